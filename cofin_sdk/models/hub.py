"""Save and load models: ``model.safetensors`` + ``config.json`` + a model card.

Layout follows huggingface_hub's ``PyTorchModelHubMixin`` so a folder can be pushed to
the Hub as is. Loading is strict and never unpickles.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .config import ViViTConfig
from .vivit import ViViT

__all__ = [
    "save_pretrained",
    "from_pretrained",
    "resolve_pretrained_dir",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1
DEFAULT_PREPROCESSING = {"frame_stride": 2, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def model_preprocessing(model: ViViT) -> dict[str, Any]:
    """Preprocessing the model expects (image size, frames, stride, mean/std)."""
    prep = {
        **DEFAULT_PREPROCESSING,
        "image_size": model.config.image_size,
        "num_frames": model.config.num_frames,
    }
    prep.update(model.preprocessing)
    return prep


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

    Args:
        model: the model to save.
        save_directory: folder (created if needed).
        metadata: extra JSON-able facts to record (training config, metrics, ...).

    Returns:
        The folder path.
    """
    out = Path(save_directory)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": model.name,
        "model": model.config.to_dict(),
        "preprocessing": model_preprocessing(model),
        "metadata": metadata or {},
    }
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    _atomic_write(out / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    _atomic_write(out / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    _atomic_write(out / "README.md", lambda tmp: Path(tmp).write_text(_model_card(model, config)))
    logger.info("saved %s to %s", model.name, out)
    return out


def _model_card(model: ViViT, config: dict[str, Any]) -> str:
    heads = "\n".join(
        f"| `{name}` | {spec.task} | {spec.num_classes} |"
        for name, spec in model.config.heads.items()
    )
    n_params = sum(p.numel() for p in model.parameters())
    metrics = config["metadata"].get("metrics")
    metrics_md = (
        "\n".join(f"- {k}: {v}" for k, v in metrics.items())
        if isinstance(metrics, dict)
        else "not recorded"
    )
    prep = config["preprocessing"]
    return f"""---
library_name: cofin
tags: [video, action-detection, ava, vivit, co-finetuning]
---
# {model.name} (cofin)

A ViViT Factorised Encoder co-finetuned for spatio-temporal action localisation with
[cofin](https://github.com/), after "Beyond Transfer Learning: Co-finetuning for Action
Localisation" (Arnab et al., 2022). {n_params / 1e6:.2f} M parameters.

| head | task | classes |
|---|---|---|
{heads}

Input: {prep["num_frames"]} frames at stride {prep["frame_stride"]}, longer side resized to
{prep["image_size"]} and the shorter side zero-padded, mean {prep["mean"]}, std {prep["std"]}.

## Metrics
{metrics_md}

## Use
```python
from cofin_sdk import Detector
detector = Detector.from_pretrained("path/or/repo-id")
```
"""


def resolve_pretrained_dir(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """A local folder, or a Hugging Face Hub repo id resolved through the local cache.

    Honours ``HF_HUB_OFFLINE=1`` (cache only). Nothing else is ever downloaded implicitly.
    """
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{path} has no {CONFIG_NAME}: not a folder written by save_pretrained"
            )
        return path
    if path.exists() or str(name_or_path).count("/") != 1:
        raise FileNotFoundError(
            f"{name_or_path!s} is neither a folder from save_pretrained nor a Hub repo id"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(
            snapshot_download(
                str(name_or_path),
                revision=revision,
                cache_dir=cache_dir,
                allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, "README.md"],
            )
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise FileNotFoundError(
            f"could not get Hub repo {name_or_path!s} (offline or not cached?): {exc}. "
            "Download it once with `hf download REPO` or pass a local folder."
        ) from exc


def from_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
) -> ViViT:
    """Load a model saved with :func:`save_pretrained` from a folder or a Hub repo id.

    Raises:
        FileNotFoundError: no such folder / uncached repo, or files missing.
        ValueError: the weights do not match the configuration (names or shapes listed).
    """
    folder = resolve_pretrained_dir(name_or_path, revision, cache_dir)
    config = json.loads((folder / CONFIG_NAME).read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{folder / CONFIG_NAME}: unsupported format_version {config.get('format_version')!r}"
        )
    model = ViViT(ViViTConfig.from_dict(config["model"]), name=config["architecture"])
    model.preprocessing = dict(config.get("preprocessing", {}))
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing")
    load_state_dict_strict(
        model, load_file(str(weights), device=str(map_location)), source=str(weights)
    )
    return model.to(map_location)


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
