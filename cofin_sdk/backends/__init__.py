"""Inference backends: the numpy boundary between the :class:`~cofin_sdk.Detector` and a
network (torch, onnxruntime, ...). See :mod:`cofin_sdk.backends.base` for the contract.

Names resolve lazily (PEP 562): ``cofin_sdk.backends.Backend`` imports no torch, and
``OnnxBackend`` needs only onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Backend, check_frames, check_head_inputs
    from .torch_backend import TorchBackend, check_device

_WHERE = {
    "Backend": "base",
    "check_frames": "base",
    "check_head_inputs": "base",
    "TorchBackend": "torch_backend",
    "check_device": "torch_backend",
}
__all__ = ["Backend", "TorchBackend", "check_device", "check_frames", "check_head_inputs"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
