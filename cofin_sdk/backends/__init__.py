"""Inference backends: the numpy boundary between the :class:`~cofin_sdk.Detector` and a
network (torch, onnxruntime, ...). See :mod:`cofin_sdk.backends.base` for the contract.

May import: models, export (the ONNX backend reads an export, or makes one from a model
folder) and everything below them; never the Hub, the Detector or the CLI.

Names resolve lazily (PEP 562): ``cofin_sdk.backends.Backend`` imports no torch, and
``OnnxBackend`` needs only onnxruntime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofin_sdk._lazy import lazy_attributes

if TYPE_CHECKING:
    from .base import Backend, check_frames, check_head_inputs
    from .onnx_backend import OnnxBackend
    from .torch_backend import TorchBackend, check_device
    from .triton_backend import TritonBackend

_WHERE = {
    "Backend": "base",
    "check_frames": "base",
    "check_head_inputs": "base",
    "OnnxBackend": "onnx_backend",
    "TorchBackend": "torch_backend",
    "check_device": "torch_backend",
    "TritonBackend": "triton_backend",
}
__all__ = [
    "Backend",
    "OnnxBackend",
    "TorchBackend",
    "TritonBackend",
    "check_device",
    "check_frames",
    "check_head_inputs",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
