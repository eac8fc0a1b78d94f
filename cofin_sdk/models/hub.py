"""Save and load models: ``model.safetensors`` + ``config.json`` + a model card.

Layout follows huggingface_hub's ``PyTorchModelHubMixin`` so a folder can be pushed to
the Hub as is. Loading is strict and never unpickles.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from cofin_sdk.model_card import CARD_NAME, model_card
from cofin_sdk.record import CONFIG_NAME, WEIGHTS_NAME, ModelRecord, read_model_record

from .vivit import ViViT

__all__ = [
    "save_pretrained",
    "from_pretrained",
    "resolve_pretrained_dir",
    "looks_like_repo_id",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
]

logger = logging.getLogger(__name__)


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temp file in the same folder, then rename: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_pretrained(
    model: ViViT, save_directory: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``README.md`` to a folder.

    The card (``README.md``) is :func:`cofin_sdk.model_card.model_card` of the record.

    Args:
        model: the model to save.
        save_directory: folder (created if needed).
        metadata: extra JSON-able facts to record (training config, metrics, ...).

    Returns:
        The folder path.
    """
    out = Path(save_directory)
    out.mkdir(parents=True, exist_ok=True)
    record = ModelRecord.for_model(model, metadata)
    card = model_card(record, num_params=sum(p.numel() for p in model.parameters()))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    _atomic_write(out / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    _atomic_write(out / CONFIG_NAME, lambda tmp: record.to_json(tmp))
    _atomic_write(out / CARD_NAME, lambda tmp: Path(tmp).write_text(card, encoding="utf-8"))
    logger.info("saved %s to %s", model.name, out)
    return out


def looks_like_repo_id(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` is written as a Hub repo id (``org/name``), not a local path.

    The one rule for every place that takes "a folder or a repo id": an existing path is a
    path; text starting with ``.``, ``/`` or ``~``, or with other than one ``/``, is a path.
    """
    text = os.fspath(name_or_path)
    if Path(text).exists() or text.startswith((".", "/", "~")):
        return False
    return text.count("/") == 1


def resolve_pretrained_dir(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """A local folder, or a Hugging Face Hub repo id resolved through ``snapshot_download``.

    Args:
        name_or_path: A ``save_pretrained`` folder or a Hub repo id ``org/name``.
        revision: Hub branch, tag or commit (default ``main``).
        cache_dir: Hub cache folder (default: huggingface_hub's, ``HF_HUB_CACHE``).

    Returns:
        The folder (for a repo id: its snapshot folder in the cache).

    Raises:
        FileNotFoundError: A missing folder, a folder without ``config.json``, an invalid
            repo id, or a repo / revision that is neither cached nor downloadable; with
            ``HF_HUB_OFFLINE=1`` only the cache is read and an uncached repo says so.
    """
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{path} has no {CONFIG_NAME}: not a folder written by save_pretrained"
            )
        return path
    text = os.fspath(name_or_path)
    if path.exists():
        raise FileNotFoundError(
            f"{text} is a file; expected a folder written by save_pretrained (config.json + "
            "model.safetensors) or a Hub repo id 'org/name'"
        )
    if not looks_like_repo_id(text):
        raise FileNotFoundError(f"model folder not found: {text}")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        raise FileNotFoundError(
            f"{text} is neither a model folder nor a valid Hub repo id 'org/name'"
        ) from None
    return _snapshot(text, revision, cache_dir, [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME])


def _snapshot(
    repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None, patterns: list[str]
) -> Path:
    """``snapshot_download`` with its failures turned into one-line FileNotFoundErrors."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"Hub repo {repo_id} (revision {revision or 'main'})"
    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=patterns
        )
    except LocalEntryNotFoundError:
        cache = Path(cache_dir or constants.HF_HUB_CACHE)
        reason = "" if hub_offline() else " and the Hub could not be reached"
        raise FileNotFoundError(
            f"{where} is not in the local cache {cache}{reason}; download it with "
            f"`hf download {repo_id}"
            + (f" --revision {revision}" if revision else "")
            + "` or pass a local folder"
        ) from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"{where}: the repo has no such revision") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(
            f"Hub repo {repo_id} not found (a private or gated repo needs a token: "
            "`hf auth login` or HF_TOKEN)"
        ) from None
    except HfHubHTTPError as exc:
        raise FileNotFoundError(f"could not get {where}: {exc}") from None
    return Path(folder)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE``: huggingface_hub's value (read at its import) or the environment now."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE) or env


def from_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
    model_cls: type[ViViT] = ViViT,
) -> ViViT:
    """Load a model saved with :func:`save_pretrained` from a folder or a Hub repo id.

    The folder's :class:`~cofin_sdk.record.ModelRecord` is read and checked against the
    weights before they are loaded (architecture, image size, frames, heads).

    Args:
        name_or_path: A ``save_pretrained`` folder or a Hub repo id (local cache).
        revision: Hub revision.
        cache_dir: Hub cache folder.
        map_location: Device for the weights.
        model_cls: The class built as ``model_cls(config, name=architecture)``.

    Raises:
        FileNotFoundError: no such folder / uncached repo, or files missing.
        ValueError: invalid ``config.json``, a corrupt weights file, or weights that do not
            match the record (the field is named).
    """
    folder = resolve_pretrained_dir(name_or_path, revision, cache_dir)
    record = read_model_record(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing")
    record.check_weights(_weight_shapes(weights), source=str(weights))
    try:
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights}: cannot read the weights ({exc})") from None
    model = model_cls(record.config, name=record.architecture)
    model.preprocessing = record.preprocessing
    load_state_dict_strict(model, state, source=str(weights))
    return model.to(map_location)


def _weight_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header; a corrupt or truncated file is a ValueError."""
    try:
        with safe_open(str(weights), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{weights} is not a readable safetensors file ({exc}); it may be truncated or "
            "corrupt: copy or download it again"
        ) from None


def load_state_dict_strict(
    model: torch.nn.Module, state: dict[str, torch.Tensor], source: str
) -> None:
    """``load_state_dict(strict=True)`` with one readable error listing every mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"missing {missing[:10]}" if missing else "",
            f"unexpected {unexpected[:10]}" if unexpected else "",
            f"shape mismatches {shapes[:10]}" if shapes else "",
        ]
        raise ValueError(
            f"checkpoint {source} does not match the model: " + "; ".join(p for p in parts if p)
        )
    model.load_state_dict(state, strict=True)
