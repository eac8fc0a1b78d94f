"""Adapter over supervision's ByteTrack: boxes + scores in, int64 track ids out.

Why supervision's ByteTrack and not the newer ``trackers`` package (Apache-2.0, the same
authors' successor): every ``trackers`` release requires numpy >= 2, and cofin pins
numpy < 2 for nvidia-pytriton (see ENVIRONMENT.md). supervision 0.26-0.30 ship ByteTrack
under MIT with numpy >= 1.21 (it is deprecated there in favour of ``trackers`` and gone
in 0.31). When the numpy pin lifts, only this module changes.

What the library defines and we keep as is:

* ids are positive integers counting up from 1 in the order tracks are confirmed; an id
  is never reused within one tracker (one video or stream);
* a person not matched for more than ``lost_track_s`` seconds is dropped by ByteTrack;
  within ``lost_track_s`` the Kalman prediction re-attaches them to their old id;
* a box the tracker does not confirm (too low a score to start a track, or a fresh track
  not yet seen twice) gets ``-1`` (untracked).

What we add (ByteTrack has no appearance model): when :meth:`PersonTracker.update` is given
the frame's pixels, :class:`~cofin_sdk.tracking.reid.AppearanceReid` gives a returning
person (after ``lost_track_s``, or placed elsewhere by a shot cut) the id they had, if
their colours match someone not on screen (``reid_distance``, e.g. ``REID_DISTANCE``;
``None``, the default, turns it off). The
ids handed out are then the re-identifier's: still counting up from 1, never two people's
at once. Without pixels, ByteTrack's ids pass through.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np

from .reid import AppearanceReid, appearance

__all__ = ["PersonTracker", "check_track_fps"]

logger = logging.getLogger(__name__)

_EXTRA_HINT = 'tracking needs supervision: pip install "cofin-sdk[track]"'


def check_track_fps(track_fps: Any, name: str = "track_fps=") -> float:
    """``track_fps`` if it is a positive, finite number of frames per second.

    Args:
        track_fps: Rate at which person boxes are looked for and associated.
        name: The argument as the caller's interface spells it (``"--track-fps "`` for a CLI).

    Raises:
        ValueError: Not a positive finite number.
    """
    if isinstance(track_fps, bool) or not (
        isinstance(track_fps, (int, float)) and math.isfinite(track_fps) and track_fps > 0
    ):
        raise ValueError(f"{name}{track_fps!r}: must be a positive number of frames per second")
    return float(track_fps)


def _byte_track(**options: Any) -> Any:
    """A new supervision ByteTrack (its deprecation notice is answered in the module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            from supervision import ByteTrack
        except ImportError as err:
            raise ImportError(_EXTRA_HINT) from err
        return ByteTrack(**options)


class PersonTracker:
    """One video's (or stream's) person tracker, fed frame by frame.

    Call :meth:`update` once per tracked frame, in time order, with every person box of
    that frame (frames without people too: time passes for the tracker). Boxes that come
    with ids (AVA ground truth, column 8) keep them: pass ``ids=`` and the library is not
    consulted.

    Args:
        fps: Rate of the frames given to :meth:`update` (the tracking rate, ``track_fps``).
        activation_threshold: Person score needed to start a track (ByteTrack's
            ``track_activation_threshold``); lower-scoring boxes only extend tracks.
        matching_threshold: ByteTrack's ``minimum_matching_threshold`` (a match needs
            ``1 - IoU`` fused with the score below it).
        lost_track_s: Seconds a track survives unmatched before it is dropped.
        min_consecutive_frames: Frames a new track must be seen before it gets an id.
        reid_distance: Largest colour distance (``1 - cosine`` of hue histograms, 0-1) at
            which a new track is re-identified as a person seen before, when frames are
            given; ``None``: no re-identification.
        reid_window_s: Seconds a person who left stays re-identifiable.

    Raises:
        ValueError: Non-positive ``fps`` or negative ``lost_track_s``, thresholds outside [0, 1].
        ImportError: supervision is not installed (names the ``track`` extra).

    Example:
        >>> tracker = PersonTracker(fps=5)
        >>> tracker.update(0.0, [[10, 10, 50, 120], [200, 10, 240, 120]], [0.9, 0.9]).tolist()
        [1, 2]
        >>> tracker.update(0.2, [[204, 10, 244, 120], [12, 10, 52, 120]], [0.9, 0.9]).tolist()
        [2, 1]
    """

    def __init__(
        self,
        fps: float,
        *,
        activation_threshold: float = 0.25,
        matching_threshold: float = 0.8,
        lost_track_s: float = 1.0,
        min_consecutive_frames: int = 1,
        reid_distance: float | None = None,
        reid_window_s: float = 60.0,
    ) -> None:
        self.fps = check_track_fps(fps, "fps=")
        self._activation_threshold = activation_threshold
        for name, value in (
            ("activation_threshold", activation_threshold),
            ("matching_threshold", matching_threshold),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r}: must be in [0, 1]")
        if not lost_track_s >= 0:
            raise ValueError(f"lost_track_s={lost_track_s!r}: must be >= 0 seconds")
        # ByteTrack keeps a lost track for int(frame_rate / 30 * lost_track_buffer) frames.
        self._tracker = _byte_track(
            track_activation_threshold=activation_threshold,
            lost_track_buffer=max(1, round(30 * lost_track_s)),
            minimum_matching_threshold=matching_threshold,
            frame_rate=self.fps,
            minimum_consecutive_frames=min_consecutive_frames,
        )
        self._reid = (
            None
            if reid_distance is None
            else AppearanceReid(reid_distance, max(0.3, reid_distance), reid_window_s)
        )
        self._last_time = -math.inf

    @property
    def reidentifies(self) -> bool:
        """Whether frames given to :meth:`update` are used to re-identify people."""
        return self._reid is not None

    def reset(self) -> None:
        """Forgets every track: the next :meth:`update` starts a new video (ids from 1)."""
        self._tracker.reset()
        if self._reid is not None:
            self._reid.reset()
        self._last_time = -math.inf

    def update(
        self, frame_time: float, boxes: Any, scores: Any, ids: Any = None, frame: Any = None
    ) -> np.ndarray:
        """Associates one frame's person boxes with the tracks so far.

        Args:
            frame_time: Time of the frame in seconds; strictly after the previous call's.
            boxes: ``[N, 4]`` ``x1, y1, x2, y2`` pixels (any consistent unit).
            scores: ``[N]`` person scores in [0, 1].
            ids: Optional ``[N]`` ids the boxes already carry; returned unchanged.
            frame: Optional ``uint8 [H, W, 3]`` RGB pixels the boxes are in: with it, people
                are re-identified by appearance (see the module docstring).

        Returns:
            ``int64 [N]`` track id per box, ``-1`` for a box no track claims.

        Raises:
            ValueError: Time not after the previous frame's, or mismatched shapes.
        """
        if not frame_time > self._last_time:
            raise ValueError(
                f"frame_time {frame_time} s is not after the previous frame ({self._last_time} s): "
                "feed frames in time order, and reset() between videos"
            )
        self._last_time = float(frame_time)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        if ids is not None:
            ids = np.asarray(ids, dtype=np.int64).reshape(-1)
            if len(ids) != len(boxes):
                raise ValueError(f"{len(boxes)} boxes but {len(ids)} ids")
            return ids
        track_ids = self._associate(boxes, scores)
        if self._reid is None:
            return track_ids
        looks = None if frame is None else appearance(np.asarray(frame), boxes)
        confident = scores >= self._activation_threshold
        return self._reid.assign(self._last_time, track_ids, looks, confident)

    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        from supervision import Detections as SvDetections

        rows = SvDetections(
            xyxy=boxes,
            confidence=scores,
            class_id=np.zeros(len(boxes), dtype=int),
            data={"row": np.arange(len(boxes))},
        )
        tracked = self._tracker.update_with_detections(rows)  # keeps only the claimed rows
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(tracked):
            track_ids[np.asarray(tracked.data["row"], dtype=np.int64)] = tracked.tracker_id
        return track_ids

    def __repr__(self) -> str:
        reid = "off" if self._reid is None else f"colour<={self._reid.max_distance:g}"
        return f"PersonTracker(fps={self.fps:g}, library='supervision.ByteTrack', reid={reid})"
