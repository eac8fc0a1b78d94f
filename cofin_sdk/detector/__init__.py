"""The Detector: the one facade applications use (files, arrays, folders, live streams).

Owns: :mod:`.core` (:class:`Detector`, :class:`Analysis`: constructors for torch weights,
exports and Triton; ``detect`` / ``analyze`` / ``classify`` and the keyframe scoring they
share), :mod:`.inputs` (what the Detector accepts, checked before anything is decoded),
:mod:`.many` (``detect_many``: a folder or glob in one call) and :mod:`.stream`
(``Detector.stream``: live sources, bounded latency and memory).

May import everything of the SDK below it (backends, hub, models, tracking, results, io,
formats, preprocessing); only the CLI and the package facade import it.
"""

from __future__ import annotations

from .core import DEFAULT_TRACK_FPS, Analysis, Detector, check_every, resolve_head
from .stream import DetectionStream, StreamResult

__all__ = [
    "DEFAULT_TRACK_FPS",
    "Analysis",
    "DetectionStream",
    "Detector",
    "StreamResult",
    "check_every",
    "resolve_head",
]
