"""Where weights come from: a local folder or a Hugging Face Hub repo id (torch-free).

THE rule for every place that takes "a folder or a repo id" (the Detector, every CLI's
``--model``, the ONNX backend, export, serving, the demo): :func:`looks_like_repo_id`,
then :func:`resolve_pretrained_dir` / :func:`snapshot`, which read the standard Hub cache
(``HF_HUB_OFFLINE=1``: the cache only) and turn every failure into one clear line.
"""

from __future__ import annotations

import os
from pathlib import Path

from cofin_sdk.models.card import CARD_NAME
from cofin_sdk.models.record import CONFIG_NAME, WEIGHTS_NAME

__all__ = ["hub_offline", "looks_like_repo_id", "resolve_pretrained_dir", "snapshot"]


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
    return snapshot(text, revision, cache_dir, [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME])


def snapshot(
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
