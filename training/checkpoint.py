"""Atomic, keep-last-k training checkpoints that make resume bit-exact.

A checkpoint holds the model, the optimiser, the step (which is the sampler's and the
learning-rate schedule's whole state, see :mod:`training.samplers`), the RNG states and
``extra`` (the trainer stores the training config and the model record there).
Files are written to a temp file in the same folder and renamed, so a run killed at any
moment leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["latest_checkpoint", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

logger = logging.getLogger(__name__)
_NAME = re.compile(r"step_(\d+)\.pt$")


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: str | os.PathLike,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any] | None = None,
    keep_last: int = 2,
) -> Path:
    """Write ``folder/step_XXXXXXXX.pt`` atomically and delete all but the newest ``keep_last``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": _rng_state(),
        "extra": extra or {},
    }
    path = folder / f"step_{step:08d}.pt"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".step_", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in sorted(folder.glob("step_*.pt"))[:-keep_last] if keep_last > 0 else []:
        old.unlink(missing_ok=True)
    logger.info("checkpoint %s", path)
    return path


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """Newest complete checkpoint in ``folder`` (temp files of a killed write are ignored)."""
    found = sorted(p for p in Path(folder).glob("step_*.pt") if _NAME.search(p.name))
    return found[-1] if found else None


def read_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """The payload of ``path`` (``step``, ``model``, ``optimizer``, ``rng``, ``extra``), on CPU.

    Never unpickles code (``weights_only``). ``mmap=True`` maps the tensors instead of
    reading them, for readers that need only part of a large file (its ``extra``).
    """
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore model (+ optimiser, RNG) from ``path``; returns the payload (``step``, ``extra``)."""
    payload = read_checkpoint(path)
    model.load_state_dict(payload["model"], strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if restore_rng:
        _set_rng_state(payload["rng"])
    return payload
