"""THE box rules: validation, pixel <-> normalised conversion, clipping, IoU (numpy only).

Every place that accepts boxes (the Detector, person detectors, results, the AVA CSV
readers, training datasets, :class:`~cofin_sdk.preprocessing.Letterbox`) calls this
module, so a box is accepted or rejected by the same rule everywhere.

Conventions:
    * Boxes are ``[N, 4]`` ``x1, y1, x2, y2``: pixels of a frame of size ``(W, H)``
      (continuous edges, pixel ``j`` covers ``[j, j + 1)``), or normalised fractions of it
      in ``[0, 1]`` (the AVA CSV convention). Which one is never guessed: the caller says.
    * **Degenerate boxes** (``x2 == x1`` or ``y2 == y1``, zero area) are valid input;
      inverted ones (``x2 < x1`` or ``y2 < y1``) are errors. Person detectors drop
      zero-area boxes from their output (they hold no person).
    * **One tolerance.** A coordinate may lie outside the frame by up to
      :data:`TOLERANCE` of the frame's size on that axis (1 %: annotation rounding, float
      round trips); :func:`validate_boxes` clips it to the frame. Further out is an error.

Example:
    >>> import numpy as np
    >>> validate_boxes([[10, 20, 110, 220]], frame_size=(320, 240)).tolist()
    [[10.0, 20.0, 110.0, 220.0]]
    >>> to_normalized([[32, 24, 320, 240]], (320, 240)).tolist()
    [[0.1, 0.1, 1.0, 1.0]]
    >>> validate_boxes([[0.1, 0.2, 1.005, 0.9]], normalized=True).tolist()
    [[0.1, 0.2, 1.0, 0.9]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "TOLERANCE",
    "box_iou",
    "box_problems",
    "clip_boxes",
    "to_normalized",
    "to_pixels",
    "validate_boxes",
]

#: Fraction of the frame size by which a coordinate may overshoot the frame (then clipped).
TOLERANCE = 0.01

FrameSize = Sequence[float]


def _as_array(boxes: Any, what: str) -> np.ndarray:
    """``[N, 4]`` float array (float32 kept, anything else float64); shape/dtype checked."""
    if hasattr(boxes, "detach"):  # a torch tensor, without importing torch
        boxes = boxes.detach().cpu().numpy()
    try:
        array = np.asarray(boxes)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be [N, 4] numbers x1, y1, x2, y2, got {type(boxes).__name__}"
        ) from None
    if array.size == 0:
        array = array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(
            f"{what} must have shape [N, 4] (x1, y1, x2, y2), got shape {tuple(array.shape)}"
        )
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{what} must be numbers x1, y1, x2, y2, got dtype {array.dtype}")
    return array if array.dtype == np.float32 else array.astype(np.float64)


def _limits(frame_size: FrameSize | None, normalized: bool) -> np.ndarray | None:
    if normalized:
        return np.ones(4)
    if frame_size is None:
        return None
    width, height = (float(v) for v in frame_size)
    if not (width > 0 and height > 0):
        raise ValueError(f"frame_size must be positive (W, H), got {tuple(frame_size)}")
    return np.array([width, height, width, height])


def box_problems(
    boxes: np.ndarray, frame_size: FrameSize | None = None, *, normalized: bool = False
) -> list[tuple[np.ndarray, str]]:
    """The rule, as ``[(bad_row_mask, reason), ...]`` for an ``[N, 4]`` float array.

    Readers that report line numbers (the AVA CSVs) use the masks directly;
    :func:`validate_boxes` raises on the first bad row.

    Args:
        boxes: ``[N, 4]`` float array.
        frame_size: ``(W, H)`` for pixel boxes (``None``: the frame is not checked).
        normalized: Boxes are fractions of the frame (limits 1 x 1).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(boxes).all(axis=1)
    problems = [(~finite, "coordinates must be finite numbers (no NaN or inf)")]
    with np.errstate(invalid="ignore"):
        x1, y1, x2, y2 = boxes.T
        problems.append((finite & ((x2 < x1) | (y2 < y1)), "box must have x1 <= x2 and y1 <= y2"))
        limits = _limits(frame_size, normalized)
        if limits is not None:
            slack = TOLERANCE * limits
            outside = finite & ((boxes < -slack) | (boxes > limits + slack)).any(axis=1)
            where = (
                "[0, 1] (normalised)" if normalized else "the {:g}x{:g} frame".format(*limits[:2])
            )
            problems.append((outside, f"coordinates must lie in {where}"))
    return problems


def validate_boxes(
    boxes: Any,
    frame_size: FrameSize | None = None,
    *,
    normalized: bool = False,
    clip: bool = True,
    what: str = "boxes",
    hint: str = "",
) -> np.ndarray:
    """Checks boxes against THE rule and (by default) clips the tolerated overshoot.

    Args:
        boxes: ``[N, 4]`` array-like (numpy, list, torch tensor) ``x1, y1, x2, y2``.
        frame_size: ``(W, H)`` of the frame pixel boxes belong to; ``None`` checks only
            finiteness and order.
        normalized: The boxes are fractions of the frame in ``[0, 1]``.
        clip: Clip coordinates to the frame (``[0, 1]`` when normalised).
        what: Name used in error messages (e.g. ``"boxes at t=2.0"``).
        hint: Appended to the error message: how to fix it, in the caller's vocabulary.

    Returns:
        ``[N, 4]`` float array (float32 input stays float32, else float64).

    Raises:
        ValueError: Wrong shape or type, NaN/inf, ``x2 < x1`` / ``y2 < y1``, or a
            coordinate outside the frame by more than :data:`TOLERANCE`.
    """
    array = _as_array(boxes, what)
    for mask, reason in box_problems(array, frame_size, normalized=normalized):
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            extra = f"; {hint}" if hint else ""
            raise ValueError(f"{what}: box {row} {array[row].tolist()}: {reason}{extra}")
    if clip:
        array = clip_boxes(array, frame_size, normalized=normalized)
    return array


def clip_boxes(
    boxes: Any, frame_size: FrameSize | None = None, *, normalized: bool = False
) -> np.ndarray:
    """Clips ``[N, 4]`` boxes to ``[0, W] x [0, H]`` (``[0, 1]`` when normalised)."""
    array = _as_array(boxes, "boxes")
    limits = _limits(frame_size, normalized)
    if limits is None:
        return np.maximum(array, 0).astype(array.dtype)
    return np.clip(array, 0, limits).astype(array.dtype)


def to_normalized(boxes: Any, frame_size: FrameSize) -> np.ndarray:
    """Pixel boxes of a ``(W, H)`` frame -> fractions of it (no validation, no clipping)."""
    array = _as_array(boxes, "boxes")
    return (array / _limits(frame_size, False)).astype(array.dtype)


def to_pixels(boxes: Any, frame_size: FrameSize) -> np.ndarray:
    """Normalised boxes -> pixels of a ``(W, H)`` frame (no validation, no clipping)."""
    array = _as_array(boxes, "boxes")
    return (array * _limits(frame_size, False)).astype(array.dtype)


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU matrix ``float64 [N, M]`` between ``a [N, 4]`` and ``b [M, 4]`` (0 for empty unions)."""
    a, b = _as_array(a, "a"), _as_array(b, "b")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
