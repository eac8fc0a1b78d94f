"""The tracking pass of ``Detector.detect(track=True)``: person boxes at ``track_fps``.

Association needs a higher rate than action scoring: people move far in the 1 s between
AVA-style keyframes. So before the keyframe clips are scored, this pass decodes the frames
at ``track_fps`` (plus every keyframe), finds people on each with the Detector's person
detector and feeds one :class:`~cofin_sdk.tracking.PersonTracker` in time order. The boxes
found on the keyframes, and their track ids, are kept; the boxes in between serve
association only and are never scored.

Look-up person sources (caller-given boxes per timestamp, AVA CSVs) have boxes only at
their own timestamps: they are tracked at the keyframes (decoded only for appearance
re-identification, when the tracker does it). Every tracked frame's pixels go to the tracker,
which re-identifies people who come back (:mod:`.reid`). A source
that gives ids with its boxes (``GivenBoxes(..., ids=...)``: its ``identities(time)``)
keeps them: the tracker is not consulted for those boxes.
Frames are decoded in chunks (``_CHUNK`` frames), so memory does not grow with the video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from cofin_sdk.io.clip_rule import keyframe_index

from .bytetrack import PersonTracker, check_track_fps

__all__ = ["TrackedKeyframes", "track_frame", "track_people", "tracking_times"]

logger = logging.getLogger(__name__)

_CHUNK = 32  # frames decoded at once by the tracking pass


class _Boxes(NamedTuple):
    boxes: np.ndarray  # float32 [N, 4] pixels of the frame
    scores: np.ndarray  # float32 [N]


class TrackedKeyframes:
    """Person boxes found on the keyframes by the tracking pass, with their track ids.

    Acts as the Detector's person detector for the scoring pass (it answers keyframe
    times with the boxes the tracker saw), then gives each result row its track id.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._found: dict[float, tuple[_Boxes, np.ndarray]] = {}

    def add(self, time: float, boxes: Any, scores: Any, ids: np.ndarray) -> None:
        self._found[float(time)] = (_Boxes(np.asarray(boxes), np.asarray(scores)), ids)

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> _Boxes:
        return self._found[float(timestamp)][0]  # type: ignore[arg-type]

    def ids_for(self, timestamps: np.ndarray) -> np.ndarray:
        """``int64 [N]`` track ids of result rows, which list each keyframe's boxes in order.

        Raises:
            ValueError: If the rows do not match the boxes of the tracking pass.
        """
        ids: list[np.ndarray] = []
        start = 0
        while start < len(timestamps):
            time = float(timestamps[start])
            found = self._found[time][1]
            end = start + len(found)
            if not np.all(timestamps[start:end] == time):
                raise ValueError(f"result rows at t={time} s do not match the tracked boxes")
            ids.append(found)
            start = end
        return np.concatenate(ids) if ids else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._found)


def tracking_times(keyframes: np.ndarray, last_time: float, track_fps: float) -> np.ndarray:
    """Keyframe times plus a ``track_fps`` grid over the video (grid points near a keyframe
    give way to it, so the tracker's step stays close to ``1 / track_fps``)."""
    grid = np.arange(0.0, last_time + 1e-9, 1.0 / track_fps)
    if len(keyframes):
        near = np.abs(grid[:, None] - keyframes[None, :]).min(axis=1) < 0.5 / track_fps
        grid = grid[~near]
    return np.union1d(grid, keyframes)


def track_people(
    source: Any,
    person: Callable[..., Any],
    keyframes: np.ndarray,
    track_fps: float,
    tracker_options: dict[str, Any] | None = None,
) -> TrackedKeyframes:
    """Runs the tracking pass over one video (one new tracker).

    Args:
        source: An opened video (``frames_at(indices)`` and ``meta``, as the Detector's).
        person: The person detector (``person(frame, time) -> (boxes, scores)``).
        keyframes: Sorted keyframe times in seconds.
        track_fps: Frames per second at which people are found and associated.
        tracker_options: Keyword arguments of :class:`PersonTracker` (besides ``fps``).

    Returns:
        The keyframes' boxes and track ids.
    """
    meta = source.meta
    track_fps = check_track_fps(track_fps)
    lookup = bool(getattr(person, "timestamps", None))  # boxes exist only at given times
    if lookup:
        times = keyframes
        rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    else:
        times = tracking_times(keyframes, meta.last_time, track_fps)
        rate = track_fps
    tracker = PersonTracker(rate, **(tracker_options or {}))
    pixels = not lookup or tracker.reidentifies
    is_keyframe = np.isin(times, keyframes)
    found = TrackedKeyframes(getattr(person, "name", "custom"))
    for start in range(0, len(times), _CHUNK):
        chunk = times[start : start + _CHUNK]
        frames = _frames(source, chunk, meta, pixels)
        for offset, time in enumerate(chunk):
            people, ids = track_frame(tracker, person, frames[offset], time, pixels)
            if is_keyframe[start + offset]:
                found.add(time, people.boxes, people.scores, ids)
    logger.info(
        "tracking pass: %d frames at %.3g fps, %d keyframes, %s",
        len(times),
        rate,
        len(keyframes),
        "look-up boxes" if lookup else "boxes found on decoded frames",
    )
    return found


def track_frame(
    tracker: PersonTracker, person: Callable[..., Any], frame: np.ndarray, time: float, pixels: bool
) -> tuple[Any, np.ndarray]:
    """One tracked frame, for files and streams alike: people found, then associated.

    Args:
        tracker: The video's (or stream's) tracker.
        person: The person detector; a source that gives ids (``identities(time)``) keeps them.
        frame: ``uint8 [H, W, 3]`` RGB frame (a blank of the frame's size for look-ups).
        time: The frame's time in seconds.
        pixels: Whether ``frame`` holds the real pixels (then people are re-identified).

    Returns:
        ``(people, int64 ids [N])``: the boxes and scores ``person`` found (``.boxes``,
        ``.scores``) and the track id of each box.
    """
    boxes, scores = person(frame, float(time))
    people = _Boxes(np.asarray(boxes), np.asarray(scores))
    given = person.identities(float(time)) if hasattr(person, "identities") else None
    frame = frame if pixels else None
    return people, tracker.update(float(time), *people, ids=given, frame=frame)


def _frames(source: Any, times: np.ndarray, meta: Any, pixels: bool) -> list[np.ndarray]:
    if not pixels:  # look-ups without re-identification only need the frame size
        return [np.zeros((meta.height, meta.width, 3), np.uint8)] * len(times)
    indices = [keyframe_index(float(t), meta.fps, meta.num_frames) for t in times]
    decoded = source.frames_at(np.unique(indices))
    return [decoded[i] for i in indices]
