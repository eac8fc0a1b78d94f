"""The backend contract (DESIGN.md, "Inference graph") and the input checks every backend
shares (numpy only, no torch).

A backend runs the two halves of the inference graph and nothing else; the Detector does
decoding, clip sampling, letterboxing, person boxes, batching and results once for all:

* ``features(frames)``: ``uint8 [B, T, S, S, 3]`` letterboxed RGB clips, channels-last
  -> ``float32 [B, D, h, w]`` time-pooled feature map (normalisation happens inside);
* ``head(name, features, boxes=None)``: scores, not logits: ``float32 [B, C]`` softmax
  for a classification head; ``float32 [B, N, C]`` sigmoid for a detection head given
  ``boxes float32 [B, N, 4]`` (``x1, y1, x2, y2`` in model-input pixels, ``N >= 1``).

Plus ``name``, ``heads`` (``{name: HeadSpec}``) and ``preprocessing`` (the model record's
:class:`~cofin_sdk.preprocessing.Preprocessing`), so one backbone pass serves detection
and every classification head of the same clips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from cofin_sdk.formats.boxes import validate_boxes
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.preprocessing import Preprocessing

__all__ = ["Backend", "check_frames", "check_head_inputs"]


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

    def features(self, frames: np.ndarray) -> np.ndarray:
        """``uint8 [B, T, S, S, 3]`` -> ``float32 [B, D, h, w]``."""
        ...

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """Scores of head ``name``: ``[B, C]``, or ``[B, N, C]`` for boxes ``[B, N, 4]``."""
        ...


def check_frames(frames: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Checks a batch of clips against the record: ``uint8 [B, T, S, S, 3]``, B >= 1.

    Raises:
        ValueError: Wrong type, dtype or shape (expected and got are named).
    """
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames must be a numpy array, got {type(frames).__name__}")
    T, S = preprocessing.num_frames, preprocessing.image_size
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got dtype {frames.dtype}")
    if frames.ndim != 5 or frames.shape[1:] != (T, S, S, 3) or frames.shape[0] < 1:
        raise ValueError(
            f"frames must have shape [B, {T}, {S}, {S}, 3] (letterboxed clips of the model "
            f"record, channels-last), got {tuple(frames.shape)}"
        )
    return np.ascontiguousarray(frames)


def check_head_inputs(
    heads: Mapping[str, HeadSpec],
    name: str,
    features: np.ndarray,
    boxes: np.ndarray | None,
    image_size: int | None = None,
) -> np.ndarray | None:
    """Checks one head call; returns the boxes as contiguous ``float32 [B, N, 4]`` (or None).

    Raises:
        ValueError: Unknown head, boxes for a classification head or none for a detection
            head, boxes of the wrong rank or batch, ``N == 0``, NaN/inverted boxes (THE box
            rule), or boxes outside the model input when ``image_size`` is given.
    """
    if name not in heads:
        raise ValueError(f"unknown head {name!r}; heads: {list(heads)}")
    if not isinstance(features, np.ndarray) or features.ndim != 4:
        raise ValueError(
            f"features must be float32 [B, D, h, w], got {getattr(features, 'shape', features)}"
        )
    task = heads[name].task
    if task == "classification":
        if boxes is not None:
            raise ValueError(f"head {name!r} is a classification head and takes no boxes")
        return None
    if boxes is None:
        raise ValueError(f"head {name!r} is a detection head: pass boxes float32 [B, N, 4]")
    boxes = np.asarray(boxes)
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(
            f"boxes must be [B, N, 4] (batch-first, x1, y1, x2, y2 in input pixels), got "
            f"shape {tuple(boxes.shape)}"
        )
    if boxes.shape[0] != features.shape[0]:
        raise ValueError(
            f"boxes hold {boxes.shape[0]} clips but features {features.shape[0]}: one row of "
            "boxes per clip"
        )
    if boxes.shape[1] == 0:
        raise ValueError("boxes must hold N >= 1 boxes per clip (answer N = 0 without a backend)")
    frame = None if image_size is None else (image_size, image_size)
    flat = validate_boxes(
        boxes.reshape(-1, 4).astype(np.float32), frame, clip=False, what="boxes (input pixels)"
    )
    return np.ascontiguousarray(flat.reshape(boxes.shape), dtype=np.float32)
