"""Person tracks: stable integer ids for person boxes over a video or a stream.

The tracker is a library's (supervision's ByteTrack, MIT); this package is only the glue
that feeds it boxes and scores and hands back ids (:class:`PersonTracker`), one tracker per
video or stream. Identity is a property of the results (``Detections.track_ids``), not of
the model.

Owns: :mod:`.bytetrack` (:class:`PersonTracker`, incremental: ``update(frame_time, boxes,
scores) -> ids``, what streams call frame by frame) and :mod:`.video_pass` (the tracking pass
of ``Detector.detect(track=True)`` over a video file or array).

May import: :mod:`cofin_sdk.io`, :mod:`cofin_sdk.formats` and :mod:`cofin_sdk.results`; the
person detector arrives as an argument (``person_detection`` sits above this package).
"""

from __future__ import annotations

from .bytetrack import PersonTracker, check_track_fps

__all__ = ["PersonTracker", "check_track_fps"]
