"""Inference results: :class:`Detections`, :class:`Classifications` and their drawing.

Owns: :mod:`.detections` (person boxes with action scores), :mod:`.classifications`
(clip-level scores), :mod:`.timeline` (per-person action segments, THE timeline rule, the
results JSON ``schema_version``), :mod:`._common` (shared checks and JSON) and
:mod:`.drawing` (annotated frames and videos).

Drawing takes results; results reach drawing through one seam, the ``draw`` and
``save_annotated_video`` methods, which import it when called (OpenCV loads only then),
and drawing names :class:`Detections` for type checkers only: no cycle.

May import: :mod:`cofin_sdk.formats` and :mod:`cofin_sdk.io` (torch-free: results load
in web servers and notebooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofin_sdk._lazy import lazy_attributes

if TYPE_CHECKING:
    from .classifications import Classifications
    from .detections import PERSON_DETECTOR_NAMES, Detections
    from .timeline import ActionTimeline, TimelineRule

__all__ = [
    "ActionTimeline",
    "Classifications",
    "Detections",
    "PERSON_DETECTOR_NAMES",
    "TimelineRule",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Classifications": "classifications",
        "Detections": "detections",
        "PERSON_DETECTOR_NAMES": "detections",
        "ActionTimeline": "timeline",
        "TimelineRule": "timeline",
    },
)
