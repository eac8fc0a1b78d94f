"""Save and load models: ``model.safetensors`` + ``config.json`` + a model card.

Layout follows huggingface_hub's ``PyTorchModelHubMixin`` so a folder can be pushed to
the Hub as is. Loading is strict and never unpickles.

Design: the model class calls this module (``ViViT.save_pretrained`` and
``ViViT.from_pretrained``), never the reverse: here the class is an argument
(:func:`load_pretrained`'s ``model_cls``) and :class:`ViViT` is named for type checkers
only; :func:`cofin_sdk.models.from_pretrained` (in ``factory.py``) supplies the default.
Publishing is not here either: :func:`cofin_sdk.hub.push_to_hub` takes a model or folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from cofin_sdk.models.card import CARD_NAME, model_card
from cofin_sdk.models.hub_cache import hub_offline, looks_like_repo_id, resolve_pretrained_dir
from cofin_sdk.models.record import CONFIG_NAME, WEIGHTS_NAME, ModelRecord, read_model_record

if TYPE_CHECKING:
    from .vivit import ViViT

__all__ = [
    "save_pretrained",
    "load_pretrained",
    "resolve_pretrained_dir",
    "looks_like_repo_id",
    "hub_offline",
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

    The card (``README.md``) is :func:`cofin_sdk.models.card.model_card` of the record.

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


def load_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
    model_cls: type[ViViT],
) -> ViViT:
    """Load a model saved with :func:`save_pretrained` from a folder or a Hub repo id.

    The folder's :class:`~cofin_sdk.models.record.ModelRecord` is read and checked against the
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
    model.metadata = dict(record.metadata)  # kept when re-saved or pushed
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
