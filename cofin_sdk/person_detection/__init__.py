"""Pluggable person detectors: where the boxes that the action head classifies come from.

The action-detection head (Fast R-CNN style) classifies person boxes on each keyframe;
it does not find people itself. A person detector is any object with a ``name`` and a
``__call__(frame, timestamp=None) -> (boxes, scores)``:

* :class:`GivenBoxes` - boxes supplied by the caller (per timestamp, pixels or normalised);
* :class:`AvaCsvBoxes` - an AVA-format person-box CSV, how AVA users work;
* :class:`TorchvisionPersonDetector` - COCO Faster R-CNN ``person`` class, when its
  weights are on disk (never downloaded);
* :class:`HogPersonDetector` - the offline default, OpenCV's HOG people detector.

:func:`get_person_detector` turns a name, CSV path, detector or plain callable into one.
Every detector returns ``float32 [N, 4]`` ``x1, y1, x2, y2`` boxes in pixels of the frame
it was given (clipped to it) and ``float32 [N]`` scores in [0, 1], best first.

May import: formats and io (box rule, AVA CSVs); never models or anything above.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._base import PersonBoxes, PersonDetector, finalize_boxes, nms
from .image import CallablePersonDetector, HogPersonDetector, TorchvisionPersonDetector
from .lookup import AVA_TIME_OFFSET, AvaCsvBoxes, GivenBoxes

__all__ = [
    "AVA_TIME_OFFSET",
    "AvaCsvBoxes",
    "CallablePersonDetector",
    "GivenBoxes",
    "HogPersonDetector",
    "PersonBoxes",
    "PersonDetector",
    "TorchvisionPersonDetector",
    "finalize_boxes",
    "get_person_detector",
    "nms",
]


def get_person_detector(
    detector: str | os.PathLike | PersonDetector | Callable | None = "hog", **kwargs: Any
) -> PersonDetector:
    """Builds a person detector from a name, a CSV path, a detector or a callable.

    Args:
        detector: ``"hog"`` / ``None`` (default, offline), ``"torchvision"`` (COCO Faster
            R-CNN from the local cache), a path to an AVA-format ``.csv`` (needs
            ``video_id=`` when the file has several videos), an object with ``name`` and
            ``__call__(frame, timestamp=None)``, or a plain ``fn(frame) -> (boxes, scores)``.
        **kwargs: Passed to the detector's constructor.

    Raises:
        ValueError: For an unknown name.

    Example:
        >>> get_person_detector("hog").name
        'opencv_hog'
    """
    if detector is None or detector == "hog":
        return HogPersonDetector(**kwargs)
    if detector == "torchvision":
        return TorchvisionPersonDetector(**kwargs)
    if isinstance(detector, (str, os.PathLike)):
        if str(detector).lower().endswith(".csv") or Path(detector).is_file():
            return AvaCsvBoxes(detector, **kwargs)
        raise ValueError(
            f"unknown person detector {str(detector)!r}: use 'hog', 'torchvision', "
            "a path to an AVA-format CSV, or a callable"
        )
    if kwargs:
        raise TypeError("keyword arguments are only used with a detector name or CSV path")
    if isinstance(getattr(detector, "name", None), str) and callable(detector):
        return detector  # type: ignore[return-value]
    if callable(detector):
        return CallablePersonDetector(detector)
    raise TypeError(
        f"person detector must be a name, CSV path or callable, got {type(detector).__name__}"
    )
