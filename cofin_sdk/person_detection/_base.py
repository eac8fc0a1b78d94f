"""The person-detector contract: :class:`PersonBoxes`, :class:`PersonDetector`, and the
output checks every detector shares (THE box rule of :mod:`cofin_sdk.formats.boxes`)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from cofin_sdk.formats.boxes import clip_boxes, validate_boxes

__all__ = [
    "PersonBoxes",
    "PersonDetector",
    "check_image",
    "empty_person_boxes",
    "finalize_boxes",
    "finalize_order",
    "nms",
]


class PersonBoxes(NamedTuple):
    """Output of a person detector (unpacks as ``boxes, scores = detector(frame)``)."""

    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2 pixels of the frame
    scores: np.ndarray  # float32 [N] in [0, 1]


@runtime_checkable
class PersonDetector(Protocol):
    """What the Detector needs from a person detector.

    ``timestamp`` is the keyframe time in seconds of the video; image detectors ignore
    it, look-up detectors (given boxes, CSV files) need it.
    """

    name: str

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes: ...


def check_image(frame: Any) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frame must be a uint8 (H, W, 3) RGB array, got {frame.dtype} {frame.shape}"
        )
    return frame


def finalize_boxes(boxes: Any, scores: Any, frame_shape: tuple[int, ...]) -> PersonBoxes:
    """Validates detector output, clips boxes to the frame, drops empty boxes, sorts by score.

    Raises:
        ValueError: On wrong shapes, non-finite values or scores outside [0, 1].
    """
    return finalize_order(boxes, scores, frame_shape)[0]


def finalize_order(
    boxes: Any, scores: Any, frame_shape: tuple[int, ...]
) -> tuple[PersonBoxes, np.ndarray]:
    """:func:`finalize_boxes`, plus ``int64 [M]``: the input row of each output box (so
    anything else given per box, e.g. person ids, follows the boxes)."""
    boxes = validate_boxes(
        np.asarray(boxes, dtype=np.float32), clip=False, what="person detector output"
    )
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(
            f"person detector must return boxes [N, 4] and scores [N], got {len(boxes)} boxes "
            f"and {len(scores)} scores"
        )
    if not np.isfinite(scores).all():
        raise ValueError("person detector returned NaN or infinite scores")
    if len(scores) and (scores.min() < 0 or scores.max() > 1):
        raise ValueError(f"person scores must be in [0, 1], got [{scores.min()}, {scores.max()}]")
    height, width = frame_shape[:2]
    boxes = clip_boxes(boxes, (width, height))  # detectors may reach past the border
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # zero-area: no person
    rows = np.flatnonzero(keep)
    order = np.argsort(-scores[keep], kind="stable")
    return PersonBoxes(boxes[rows[order]], scores[rows[order]]), rows[order]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of boxes kept by non-maximum suppression, best first.

    OpenCV's ``cv2.dnn.NMSBoxes`` (torch-free; the same kept indices as
    ``torchvision.ops.nms`` on continuous ``x1, y1, x2, y2`` boxes).

    Args:
        boxes: ``float [N, 4]`` ``x1, y1, x2, y2``.
        scores: ``float [N]``.
        iou_threshold: Boxes overlapping a better one with IoU above this are dropped.
    """
    import cv2

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    # NMSBoxes drops scores <= its score threshold (which must be >= 0): shift every score
    # above 0, keeping their order, so that NMS alone decides.
    ranked = np.asarray(scores, dtype=np.float64)
    ranked = ranked - ranked.min() + 1.0
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), ranked.tolist(), 0.0, float(iou_threshold))
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def empty_person_boxes() -> PersonBoxes:
    """No person."""
    return PersonBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
