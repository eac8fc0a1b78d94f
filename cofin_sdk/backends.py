"""The backend boundary: preprocessed clips (+ boxes) in, logits out, numpy on both sides.

:class:`cofin_sdk.Detector` owns everything around the network (video decoding, clip
sampling, letterboxing, person boxes, results); a backend only runs the network. The
boundary is deliberately small and framework-free so that onnxruntime and Triton
backends can implement it from exported graphs plus the metadata embedded in them:

* ``heads``: ``{name: HeadSpec}`` (task, number of classes, class names and ids);
* ``preprocessing``: the :class:`~cofin_sdk.preprocessing.Preprocessing` the weights expect;
* ``classify(video, head)``: ``float32 [B, 3, T, S, S]`` -> logits ``float32 [B, C]``;
* ``detect(video, boxes, head)``: the same video plus ``float32 [K, 5]`` rows
  ``(batch_index, x1, y1, x2, y2)`` in model-input pixels -> logits ``float32 [K, C]``.

Backends return LOGITS; the Detector applies softmax (classification) or sigmoid
(multi-label detection), so every backend gets identical post-processing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch

from cofin_sdk.models.config import HeadSpec
from cofin_sdk.preprocessing import Preprocessing

if TYPE_CHECKING:
    from cofin_sdk.models import ViViT

logger = logging.getLogger(__name__)

__all__ = ["Backend", "TorchBackend", "check_device"]


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


@runtime_checkable
class Backend(Protocol):
    """What :class:`cofin_sdk.Detector` needs from an inference backend.

    Attributes:
        name: Short backend name recorded in logs (``"torch"``, ``"onnxruntime"``, ...).
        heads: ``{head_name: HeadSpec}`` of the loaded weights.
        preprocessing: Input preprocessing the weights expect.
    """

    name: str
    heads: Mapping[str, HeadSpec]
    preprocessing: Preprocessing

    def classify(self, video: np.ndarray, head: str) -> np.ndarray:
        """``float32 [B, 3, T, S, S]`` normalised clips -> ``float32 [B, C]`` logits."""
        ...

    def detect(self, video: np.ndarray, boxes: np.ndarray, head: str) -> np.ndarray:
        """Clips plus ``float32 [K, 5]`` ``(batch_index, x1, y1, x2, y2)`` input-pixel boxes
        -> ``float32 [K, C]`` logits."""
        ...


class TorchBackend:
    """Runs a :class:`~cofin_sdk.models.ViViT` with PyTorch.

    Args:
        model: The model; it is put in eval mode and moved to ``device``.
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
        bf16: Run under bfloat16 autocast. Honoured on CUDA only (on CPU it is slower
            and less exact); logits are always returned as float32.

    Example:
        >>> import numpy as np
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...     num_frames=4, image_size=32,
        ...     heads={"ava": {"task": "detection", "num_classes": 3}})
        >>> backend = TorchBackend(model)
        >>> video = np.zeros((1, 3, 4, 32, 32), np.float32)
        >>> boxes = np.array([[0, 2, 2, 20, 30]], np.float32)
        >>> backend.detect(video, boxes, head="ava").shape
        (1, 3)
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

    def _run(self, video: np.ndarray, head: str, boxes: np.ndarray | None) -> np.ndarray:
        video_t = torch.from_numpy(np.ascontiguousarray(video, dtype=np.float32)).to(self.device)
        boxes_t = None
        if boxes is not None:
            boxes_t = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)).to(
                self.device
            )
        with torch.inference_mode(), self._autocast():
            logits = self.model(video_t, head=head, boxes=boxes_t)
        return logits.float().cpu().numpy()

    def classify(self, video: np.ndarray, head: str) -> np.ndarray:
        """See :meth:`Backend.classify`."""
        return self._run(video, head, None)

    def detect(self, video: np.ndarray, boxes: np.ndarray, head: str) -> np.ndarray:
        """See :meth:`Backend.detect`."""
        return self._run(video, head, boxes)

    def __repr__(self) -> str:
        return f"TorchBackend({self.model.name}, device={str(self.device)!r}, bf16={self.bf16})"
