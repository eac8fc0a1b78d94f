"""Person tracks: stable integer ids for person boxes over a video or a stream.

The tracker is a library's (supervision's ByteTrack, MIT); this package is only the glue
that feeds it boxes and scores and hands back ids (:class:`PersonTracker`), one tracker per
video or stream. Identity is a property of the results (``Detections.track_ids``), not of
the model.
"""

from __future__ import annotations

from .bytetrack import PersonTracker, check_track_fps

__all__ = ["PersonTracker", "check_track_fps"]
