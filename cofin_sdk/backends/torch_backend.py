"""The torch backend: runs a :class:`~cofin_sdk.models.ViViT`'s inference split."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from cofin_sdk.models.config import HeadSpec
from cofin_sdk.preprocessing import Preprocessing

from .base import check_frames, check_head_inputs

if TYPE_CHECKING:
    from cofin_sdk.models import ViViT

logger = logging.getLogger(__name__)

__all__ = ["TorchBackend", "check_device"]


def check_device(device: str | torch.device, name: str = "device") -> torch.device:
    """The torch device ``device`` names, if this machine has it.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.
        name: How the caller's interface calls the argument (``"--device"`` for a CLI).

    Raises:
        ValueError: An unknown device string, or a device this machine does not have.
    """
    use = f"{name} cpu" if name.startswith("-") else f"{name}='cpu'"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} {device!r} is not a torch device; use {use} (or cuda, cuda:N)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name} {device!r}: CUDA is not available here (no NVIDIA GPU, or a CPU-only "
                f"torch build); use {use}"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} {device!r}: Apple MPS is not available here; use {use}")
    return dev


class TorchBackend:
    """Runs a :class:`~cofin_sdk.models.ViViT` with PyTorch.

    Args:
        model: The model; it is put in eval mode and moved to ``device``.
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
        bf16: Run under bfloat16 autocast. Honoured on CUDA only (on CPU it is slower
            and less exact); scores are always returned as float32.

    Example:
        >>> import numpy as np
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...     num_frames=4, image_size=32,
        ...     heads={"ava": {"task": "detection", "num_classes": 3}})
        >>> backend = TorchBackend(model)
        >>> features = backend.features(np.zeros((2, 4, 32, 32, 3), np.uint8))
        >>> features.shape
        (2, 192, 2, 2)
        >>> boxes = np.array([[[2, 2, 20, 30]], [[0, 0, 32, 32]]], np.float32)  # [B, N, 4]
        >>> backend.head("ava", features, boxes).shape
        (2, 1, 3)
    """

    name = "torch"

    def __init__(
        self, model: ViViT, device: str | torch.device = "cpu", *, bf16: bool = False
    ) -> None:
        self.device = check_device(device)
        self.model = model.eval().to(self.device)
        self.bf16 = bf16 and self.device.type == "cuda"
        if bf16 and not self.bf16:
            logger.info("bf16 autocast is only used on CUDA; running %s in float32", self.device)
        self.heads: Mapping[str, HeadSpec] = dict(model.config.heads)
        self.preprocessing: Preprocessing = model.preprocessing

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def features(self, frames: np.ndarray) -> np.ndarray:
        """See :meth:`Backend.features`."""
        frames = check_frames(frames, self.preprocessing)
        with torch.inference_mode(), self._autocast():
            out = self.model.features(torch.from_numpy(frames).to(self.device))
        return out.float().cpu().numpy()

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """See :meth:`Backend.head`."""
        boxes = check_head_inputs(self.heads, name, features, boxes)
        features_t = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        boxes_t = None if boxes is None else torch.from_numpy(boxes).to(self.device)
        with torch.inference_mode(), self._autocast():
            scores = self.model.head(name, features_t.to(self.device), boxes_t)
        return scores.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"TorchBackend({self.model.name}, device={str(self.device)!r}, bf16={self.bf16})"
