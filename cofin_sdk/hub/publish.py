"""Publish a model folder to the Hugging Face Hub in one commit (``cofin push``).

:func:`push_to_hub` checks everything that can fail before anything is uploaded (the
repo id, the model folder, offline mode, the token), then stages a temporary folder
holding exactly what the repo should hold, and hands it to ``huggingface_hub``:

```
<staging>/
  model.safetensors   the weights (a hard link or copy of the folder's)
  config.json         the model record (copied as is)
  README.md           the model card, regenerated from config.json with the repo id
  onnx/               with with_export: backbone.onnx, head_<name>.onnx, cofin_export.json
```

``HfApi.create_repo(exist_ok=True)``, ``create_branch`` for a revision other than
``main``, then ONE ``HfApi.upload_folder`` with ``allow_patterns`` naming those files
and ``delete_patterns=["onnx/*"]``: an export left in the repo by an earlier push never
outlives the weights it was made from (a push without ``with_export`` removes it, one with
it replaces it), all in the same commit. The ``HfApi`` calls are the only place the
network is used.

Example (needs a token and the network)::

    from cofin_sdk.hub.publish import push_to_hub
    push_to_hub("runs/synthetic_tiny/final", "my-user/cofin-tiny", with_export=True)
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofin_sdk.models.card import CARD_NAME, model_card
from cofin_sdk.models.record import CONFIG_NAME, WEIGHTS_NAME, ModelRecord, read_model_record

if TYPE_CHECKING:
    from cofin_sdk.models import ViViT

__all__ = ["EXPORT_DIR", "check_model_folder", "check_repo_id", "push_to_hub", "stage_folder"]

logger = logging.getLogger(__name__)

#: Folder of the ONNX export inside a Hub repo.
EXPORT_DIR = "onnx"
_LOGIN = "log in with `hf auth login` (formerly `huggingface-cli login`) or set HF_TOKEN"


def push_to_hub(
    model: str | os.PathLike | ViViT,
    repo_id: str,
    *,
    metadata: dict[str, Any] | None = None,
    private: bool | None = None,
    revision: str | None = None,
    with_export: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Uploads a model, or a ``save_pretrained`` folder, to a Hub model repo in one commit.

    A model is saved to a temporary folder first (``PyTorchModelHubMixin.push_to_hub``'s
    shape), which is then pushed like any folder.

    Args:
        model: A folder with ``config.json`` and ``model.safetensors``, or a model
            (:class:`~cofin_sdk.models.ViViT`: anything with ``save_pretrained``).
        repo_id: ``namespace/name``; the repo is created if it does not exist.
        metadata: With a model: extra JSON-able facts for ``config.json`` and the card
            (training config, metrics), as with ``save_pretrained``. A folder's
            ``config.json`` already holds its own.
        private: Visibility of a newly created repo (``None``: the account's default).
        revision: Branch to commit to (created from ``main`` if missing); default ``main``.
        with_export: Also export ONNX graphs (:func:`cofin_sdk.export.export`) into
            ``onnx/``, so ``Detector.from_pretrained(repo_id, backend="onnx")`` needs no
            export step.
        commit_message: Default: names the architecture, heads and cofin version.
        token: Hub token; default: huggingface_hub's (``HF_TOKEN``, then the token file).

    Returns:
        The commit URL.

    Raises:
        ValueError: An invalid repo id, or a model folder whose record or weights are bad.
        FileNotFoundError: No such model folder, or its weights are missing.
        ConnectionError: ``HF_HUB_OFFLINE`` is set, or the Hub cannot be reached.
        PermissionError: No token, or the Hub rejects it.
        ImportError: ``with_export`` without the ``onnx`` extra (names it).
        OSError: Any other refusal by the Hub (its message, one line).
    """
    check_repo_id(repo_id)  # before a model's weights are written
    if hasattr(model, "save_pretrained"):
        with tempfile.TemporaryDirectory(prefix="cofin-save-") as folder:
            model.save_pretrained(folder, metadata)
            return push_to_hub(
                folder,
                repo_id,
                private=private,
                revision=revision,
                with_export=with_export,
                commit_message=commit_message,
                token=token,
            )
    if metadata is not None:
        raise ValueError(
            "metadata= is for a model object; a model folder's config.json holds its own"
        )
    model_dir = model
    record = check_model_folder(model_dir)
    _check_online()
    token = _token(token)
    export_fn = _export_function() if with_export else None
    with tempfile.TemporaryDirectory(prefix="cofin-push-") as staging:
        patterns = stage_folder(
            model_dir, staging, repo_id=repo_id, revision=revision, export_fn=export_fn
        )
        message = commit_message or _default_message(record, with_export)
        return _upload(Path(staging), repo_id, patterns, private, revision, message, token)


def check_repo_id(repo_id: str) -> None:
    """``repo_id`` is ``namespace/name`` and passes ``huggingface_hub``'s validation.

    Raises:
        ValueError: Naming the id and the expected format.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    expected = (
        "use 'namespace/name' with letters, digits, '-', '_' or '.' (not at either end of "
        "a part), at most 96 characters, e.g. my-user/cofin-vivit-b"
    )
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ValueError(f"repo id {repo_id!r} is not a valid Hub repo id; {expected}") from None
    if repo_id.count("/") != 1:
        raise ValueError(f"repo id {repo_id!r} has no namespace; {expected}")


def check_model_folder(model_dir: str | os.PathLike) -> ModelRecord:
    """The record of a ``save_pretrained`` folder whose weights are present and fit it.

    Raises:
        FileNotFoundError: No such folder, no ``config.json`` or no ``model.safetensors``.
        ValueError: An invalid record, or weights that do not match it (field named).
    """
    from cofin_sdk.models.hub import _weight_shapes

    folder = Path(model_dir)
    if not folder.exists():
        raise FileNotFoundError(
            f"model folder not found: {model_dir} (pass a folder written by save_pretrained, "
            "e.g. runs/<name>/final)"
        )
    if not folder.is_dir():
        raise ValueError(
            f"{model_dir} is a file; pass the model folder ({CONFIG_NAME} + {WEIGHTS_NAME})"
        )
    record = read_model_record(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing: {model_dir} holds no weights to push")
    record.check_weights(_weight_shapes(weights), source=str(weights))
    return record


def stage_folder(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    export_fn: Any = None,
) -> list[str]:
    """Writes what a Hub repo of ``model_dir`` holds into ``out_dir`` (an existing folder).

    Args:
        model_dir: A checked ``save_pretrained`` folder.
        out_dir: The staging folder.
        repo_id: Named in the card's usage snippets.
        revision: Named in the card's usage snippets when not ``main``.
        export_fn: ``export(model_dir, out_dir)`` writing the ONNX export into
            ``out_dir/onnx``; ``None``: no export.

    Returns:
        The ``allow_patterns`` that select exactly the staged files.
    """
    from cofin_sdk.models.hub import _weight_shapes

    src, out = Path(model_dir), Path(out_dir)
    record = read_model_record(src)
    _link_or_copy(src / WEIGHTS_NAME, out / WEIGHTS_NAME)
    shutil.copyfile(src / CONFIG_NAME, out / CONFIG_NAME)
    shapes = _weight_shapes(out / WEIGHTS_NAME)
    card = model_card(
        record,
        repo_id=repo_id,
        revision=revision,
        num_params=sum(math.prod(shape) for shape in shapes.values()),
        with_export=export_fn is not None,
    )
    (out / CARD_NAME).write_text(card, encoding="utf-8")
    patterns = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME]
    if export_fn is not None:
        export_fn(src, out / EXPORT_DIR)
        patterns.append(f"{EXPORT_DIR}/*")
    return patterns


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when the staging folder is on the same file system, else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _check_online() -> None:
    from cofin_sdk.models.hub import hub_offline

    if hub_offline():
        raise ConnectionError(
            "HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it for this command "
            "(e.g. `env -u HF_HUB_OFFLINE cofin push ...`)"
        )


def _token(token: str | None) -> str:
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PermissionError(f"no Hugging Face token found: {_LOGIN}")
    return token


def _export_function() -> Any:
    """``cofin_sdk.export.export``, or an ImportError naming what to install."""
    try:
        from cofin_sdk.export import export
    except ImportError as exc:
        raise ImportError(
            f"--with-export needs cofin_sdk.export and its ONNX packages ({exc}); "
            "pip install 'cofin-sdk[onnx]'"
        ) from exc
    return export


def _default_message(record: ModelRecord, with_export: bool) -> str:
    heads = ", ".join(record.heads)
    extra = " + ONNX export" if with_export else ""
    return f"Upload {record.architecture} (heads: {heads}){extra} with cofin {record.cofin_version}"


def _upload(
    staging: Path,
    repo_id: str,
    patterns: list[str],
    private: bool | None,
    revision: str | None,
    message: str,
    token: str,
) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        # A folder this small (<= a few dozen files) is one commit, also on the Xet path.
        commit = api.upload_folder(
            folder_path=staging,
            repo_id=repo_id,
            revision=revision,
            commit_message=message,
            allow_patterns=patterns,
            delete_patterns=[f"{EXPORT_DIR}/*"],
        )
    except Exception as exc:
        error = _hub_error(exc, repo_id)
        if error is exc:
            raise
        raise error from exc
    logger.info("pushed %s to %s", sorted(patterns), repo_id)
    return str(getattr(commit, "commit_url", commit))


def _hub_error(exc: Exception, repo_id: str) -> Exception:
    """A one-line error for what the Hub or the network said; unknown errors pass through."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = getattr(exc.response, "status_code", None)
        if status == 401:
            return PermissionError(f"the Hub rejected the token (401 Unauthorized): {_LOGIN}")
        if status == 403:
            return PermissionError(
                f"the token may not write to {repo_id} (403 Forbidden): use a token with "
                f"write access to that namespace; {_LOGIN}"
            )
        return OSError(f"the Hub refused the upload to {repo_id}: {exc}".split("\n")[0])
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"TransportError", "ConnectionError", "TimeoutError", "Timeout"}:
        return ConnectionError(
            f"cannot reach the Hugging Face Hub ({type(exc).__name__}: {exc}); check the "
            "network or HF_ENDPOINT (no commit was made)"
        )
    return exc
