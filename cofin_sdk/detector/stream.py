"""``Detector.stream``: per-keyframe results from a live source, with bounded latency.

Pipeline: the reader thread (:mod:`cofin_sdk.io.stream`) decodes into a bounded ring of
frames; this module's scheduler, running in the consumer's thread, waits until a
keyframe's clip is in the ring (THE clip rule, :func:`~cofin_sdk.io.clip_rule.clip_indices_at`,
placement ``"causal"`` or ``"centre"``), letterboxes it, finds the people on its key frame and
scores it with the Detector's one batch step (one backbone pass, then every head). The
reader never waits on inference, except with ``drop="none"`` when the ring is full of frames
still needed (then the source waits: nothing is ever dropped, memory stays bounded).

Keyframe ``k`` is at ``k * every`` seconds of presentation time. With ``drop="latest"``,
when inference falls behind the scheduler takes the newest keyframe whose clip is complete
and counts the ones it skipped (:attr:`StreamResult.dropped`); with ``drop="none"`` it
scores every keyframe, batching the ones ready together.

With ``track=True`` the stream has one :class:`~cofin_sdk.tracking.PersonTracker`: before a
keyframe is scored, the people of the frames since the last tracked one are found at
``track_fps`` (taken from the ring, which holds them) and associated, then the key frame's
boxes get their ids (:func:`~cofin_sdk.tracking.video_pass.track_frame`, the rule the file
path uses). Look-up person sources (given boxes) are tracked at the keyframes only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from cofin_sdk.io.clip_rule import clip_indices_at, frame_times, keyframe_position
from cofin_sdk.io.clips import Clip
from cofin_sdk.io.stream import StreamFrame, StreamReader
from cofin_sdk.preprocessing import letterbox_frames
from cofin_sdk.results import Classifications, Detections
from cofin_sdk.tracking.video_pass import track_frame, tracking_times

if TYPE_CHECKING:
    from cofin_sdk.detector import Detector

logger = logging.getLogger("cofin_sdk.detector")

__all__ = ["DROP_POLICIES", "DetectionStream", "StreamResult", "check_drop", "ring_capacity"]

#: What the scheduler does when inference falls behind the stream.
DROP_POLICIES = ("latest", "none")
_EPS = 1e-6  # seconds: frame times and grid times are equal up to float rounding
_UNKNOWN_LENGTH = sys.maxsize // 4  # a live stream's frame count until it ends


@dataclasses.dataclass
class StreamResult:
    """The results of one keyframe of a stream.

    Attributes:
        index: Keyframe number ``k`` (the keyframe is at ``k * every`` s).
        time: Keyframe time in seconds of the stream (the ``timestamps`` of ``detections``).
        frame_time: Presentation time of the key frame decoded (``(pts - first pts) *
            time_base``), the frame nearest ``time``.
        arrival_wall_time: Wall time (``time.time()``) the key frame arrived from the source.
        result_wall_time: Wall time this result was ready.
        dropped: Keyframes skipped just before this one (``drop="latest"`` behind the stream).
        detections: Person boxes and action scores (``None`` without a detection head);
            with ``track=True`` their ``track_ids``.
        classifications: ``{head: Classifications}`` of this keyframe's clip.
        frame: The key frame, ``uint8 (H, W, 3)`` RGB (to draw on).
    """

    index: int
    time: float
    frame_time: float
    arrival_wall_time: float
    result_wall_time: float
    dropped: int
    detections: Detections | None
    classifications: dict[str, Classifications]
    frame: np.ndarray = dataclasses.field(repr=False)

    @property
    def latency(self) -> float:
        """Seconds from the key frame's arrival to the result (``result - arrival``)."""
        return self.result_wall_time - self.arrival_wall_time

    def to_dict(self, top_k: int = 5) -> dict[str, Any]:
        """One JSON line: times, latency, drops, people (box, score, actions) and top-k."""
        people = []
        if self.detections is not None:
            actions = self.detections.top_actions(top_k)
            for box, score, acts, track_id in zip(
                self.detections.boxes.tolist(),
                self.detections.person_scores.tolist(),
                actions,
                self.detections.track_ids.tolist(),
                strict=True,
            ):
                person = {"box": box, "score": score, "actions": [[a, float(p)] for a, p in acts]}
                if track_id >= 0:
                    person["track_id"] = track_id
                people.append(person)
        return {
            "index": self.index,
            "time": self.time,
            "frame_time": self.frame_time,
            "arrival_wall_time": self.arrival_wall_time,
            "result_wall_time": self.result_wall_time,
            "latency": self.latency,
            "dropped": self.dropped,
            "people": people,
            "classifications": {
                name: [[label, float(p)] for label, p in c.top_k(top_k)]
                for name, c in self.classifications.items()
            },
        }


def ring_capacity(fps: float, every: float, num_frames: int, frame_stride: int) -> int:
    """Frames the ring holds: one clip's span, one keyframe interval and a margin.

    Enough for the newest complete clip to be in the ring whatever inference does.
    """
    span = (num_frames - 1) * frame_stride + 1
    return span + math.ceil(fps * every) + 4


class DetectionStream:
    """Iterator of :class:`StreamResult`, one per keyframe scored; a context manager.

    Made by :meth:`cofin_sdk.Detector.stream`. ``close()`` (or leaving a ``with`` block,
    or Ctrl-C inside one) stops the reader thread and releases the source.

    Attributes:
        dropped: Keyframes skipped so far (``drop="latest"``).
        processed: Keyframes scored so far.
    """

    def __init__(
        self,
        detector: Detector,
        reader: StreamReader,
        *,
        every: float,
        placement: str,
        drop: str,
        person: Any,
        detection: str | None,
        classification: list[str],
        threshold: float,
        tracker: Any = None,
        track_fps: float = 5.0,
    ) -> None:
        self.detector, self.reader = detector, reader
        self.every, self.placement, self.drop = every, placement, drop
        self.prep = dataclasses.replace(detector.preprocessing, keyframe=placement)
        self._person, self._detection, self._classification = person, detection, classification
        self._threshold = threshold
        self._tracker, self._track_fps = tracker, track_fps
        self._tracked_until = -math.inf  # time of the last frame given to the tracker
        self._last_key_time = -math.inf  # the last keyframe tracked
        # Tracking needs the frames since the last tracked keyframe in the ring: scoring one
        # keyframe at a time keeps that within the ring's one keyframe interval.
        self._batch_limit = 1 if tracker is not None else detector.batch_size
        self._key_pos = keyframe_position(self.prep.num_frames, placement)
        self._next = 0  # the first keyframe neither scored nor dropped
        self._queue: deque[StreamResult] = deque()
        self._closed = False
        self.dropped = 0
        self.processed = 0
        self._dropped_reported = 0  # drops already told in a result
        self._set_keep_from()

    # ------------------------------------------------------------------ iterator
    def __iter__(self) -> DetectionStream:
        return self

    def __next__(self) -> StreamResult:
        if not self._queue:
            if self._closed:
                raise StopIteration
            try:
                keyframes = self._wait_ready()
                if keyframes:
                    self._queue.extend(self._score(keyframes))
            except BaseException:
                self.close()
                raise
            if not self._queue:
                self.close()
                raise StopIteration
        return self._queue.popleft()

    def __enter__(self) -> DetectionStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stops the reader thread and releases the source (idempotent)."""
        if not self._closed:
            self._closed = True
            self.reader.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self.reader.close(join_timeout=0)

    @property
    def corrupt_packets(self) -> int:
        """Packets the reader skipped because they did not decode."""
        return self.reader.corrupt_packets

    @property
    def fps(self) -> float:
        """The stream's nominal frame rate."""
        return self.reader.fps

    # ------------------------------------------------------------------ schedule
    def _indices(self, k: int, num_video_frames: int = _UNKNOWN_LENGTH) -> np.ndarray:
        prep, fps = self.prep, self.reader.fps
        return clip_indices_at(
            k * self.every,
            fps,
            num_video_frames,
            prep.num_frames,
            prep.frame_stride,
            self.placement,
        )

    def _last_needed(self, k: int) -> float:
        """Time of the last frame keyframe ``k``'s clip needs (before the stream ends)."""
        return float(frame_times(self._indices(k)[-1:], self.reader.fps)[0])

    def _set_keep_from(self) -> None:
        """``drop="none"``: the frames of the next keyframe's clip may not be evicted."""
        if self.drop == "none":
            first = float(frame_times(self._indices(self._next)[:1], self.reader.fps)[0])
            if self._tracker is not None:  # and the frames the tracker has not seen yet
                first = min(first, max(self._tracked_until, 0.0))
            self.reader.ring.set_keep_from(first - 1.5 / self.reader.fps)

    def _ready(self, latest: float, ended: bool) -> list[int]:
        """Keyframes to score now (empty: wait, or the end when ``ended``)."""
        last = self._last_keyframe(latest) if ended else None
        first = k = self._next
        while (last is not None and k <= last) or (
            last is None and self._last_needed(k) <= latest + _EPS
        ):
            k += 1
            if self.drop == "none" and k - first == self._batch_limit:
                break
        if self.drop == "latest" and k > first:
            self.dropped += k - first - 1  # every ready keyframe but the newest
            return [k - 1]
        return list(range(first, k))

    def _last_keyframe(self, latest: float) -> int:
        """The last keyframe of an ended stream (as ``Detector.detect``: ``k * every <= last``)."""
        if latest == -math.inf:
            return -1
        return int(math.floor((latest + 1e-9) / self.every))

    def _wait_ready(self) -> list[int]:
        """Blocks until keyframes are ready or the stream ends (then ``[]``)."""
        ring, reader = self.reader.ring, self.reader
        backstop = reader.timeout_s + 0.5
        while True:
            ended, error, latest = ring.closed, ring.error, ring.latest_time()
            if error is not None:
                raise error
            ready = self._ready(latest, ended)
            if ready or ended:
                return ready
            idle = time.monotonic() - ring.last_event
            # A URL times its own reads (and reconnects); this backstop is for pipes and iterators.
            limit = backstop * (reader.reconnect + 1) * 2 if reader.self_timed else backstop
            if idle > limit:
                raise TimeoutError(
                    f"{reader.name}: no frame for {idle:.1f} s (timeout_s={reader.timeout_s:g}); "
                    "the stream stalled"
                )
            if self._tracker is not None:  # meanwhile, the frames between keyframes
                self._track_until(latest, self._next * self.every)
            ring.wait(
                lambda seen=latest: ring.closed or ring.latest_time() > seen,
                min(0.25, limit - idle),
            )

    # ------------------------------------------------------------------ scoring
    def _clip(self, k: int) -> tuple[Clip, StreamFrame]:
        ring, fps = self.reader.ring, self.reader.fps
        num_video_frames = _UNKNOWN_LENGTH
        if ring.closed:  # the last clips repeat the last frame, as for a file
            num_video_frames = int(round(ring.latest_time() * fps)) + 1
        frames = ring.nearest(frame_times(self._indices(k, num_video_frames), fps))
        model_input, letterbox = letterbox_frames(
            np.stack([f.image for f in frames]),
            self.prep.image_size,  # (T, H, W, 3)
            resize=self.prep.resize,
        )
        key = frames[self._key_pos]
        return Clip(k * self.every, model_input, letterbox, key.image), key

    def _people(self, clips: list[Clip]) -> tuple[list[Any], list[np.ndarray]]:
        """Person boxes of each clip's key frame and, when tracking, their track ids."""
        if self._detection is None:
            return [], []
        if self._tracker is None:
            return [self._person(c.keyframe, c.time) for c in clips], []
        people, ids = [], []
        for clip in clips:
            self._track_until(clip.time, clip.time)
            found, track_ids = track_frame(
                self._tracker, self._person, clip.keyframe, clip.time, True
            )
            self._tracked_until = self._last_key_time = clip.time
            people.append(found)
            ids.append(track_ids)
        return people, ids

    def _track_until(self, until: float, key_time: float) -> None:
        """Feeds the tracker the ring's frames on the ``track_fps`` grid up to ``until``,
        before the keyframe at ``key_time`` and at most one keyframe interval before it.

        Called while waiting for a clip (so the frames between keyframes are tracked as they
        arrive, not after the key frame: the latency stays one person detection) and before
        a keyframe is scored. After dropped keyframes the tracker skips ahead (it sees a gap,
        as for a person unseen) instead of catching up on frames, which would add latency.
        """
        if getattr(self._person, "timestamps", None):  # look-up boxes exist at keyframes only
            return
        anchors = [t for t in (self._last_key_time, key_time) if math.isfinite(t)]
        grid = tracking_times(np.array(anchors), key_time, self._track_fps)  # as the file's
        start = max(self._tracked_until, key_time - self.every)
        grid = grid[(grid > start + _EPS) & (grid < key_time - _EPS) & (grid <= until + _EPS)]
        if not len(grid):
            return
        last_frame = -math.inf
        for time_s, frame in zip(grid.tolist(), self.reader.ring.nearest(grid), strict=True):
            self._tracked_until = time_s
            if frame.time <= last_frame + _EPS:
                continue  # evicted or repeated: the ring no longer holds a frame for it
            last_frame = frame.time
            track_frame(self._tracker, self._person, frame.image, time_s, True)

    def _score(self, keyframes: list[int]) -> list[StreamResult]:
        clips, keys = zip(*(self._clip(k) for k in keyframes))
        self._next = keyframes[-1] + 1
        people, track_ids = self._people(list(clips))  # reads frames the ring still keeps
        self._set_keep_from()
        template = self._template(keys[0].image) if self._detection else None
        detection = (self._detection, template) if self._detection else None
        part, probs = self.detector._score_batch(clips, people, detection, self._classification)
        done = time.time()
        self.processed += len(keyframes)
        results = []
        for b, (k, clip, key) in enumerate(zip(keyframes, clips, keys)):
            detections = None
            if template is not None:
                detections = template if part is None else part[part.timestamps == clip.time]
                if track_ids:
                    detections = dataclasses.replace(detections, track_ids=track_ids[b])
            results.append(
                StreamResult(
                    k,
                    clip.time,
                    key.time,
                    key.arrival,
                    done,
                    self.dropped - self._dropped_reported if b == 0 else 0,
                    detections,
                    self._classifications(probs, b, clip.time),
                    key.image,
                )
            )
        self._dropped_reported = self.dropped
        return results

    def _template(self, image: np.ndarray) -> Detections:
        spec = self.detector.backend.heads[self._detection]
        return Detections.empty(
            spec.labels,
            (image.shape[1], image.shape[0]),
            class_ids=spec.class_ids,
            video_id=self.reader.name,
            detector=self._person.name,
            threshold=self._threshold,
        )

    def _classifications(
        self, probs: dict[str, np.ndarray], b: int, time_s: float
    ) -> dict[str, Classifications]:
        return {
            name: Classifications(
                name,
                self.detector.backend.heads[name].labels,
                probs[name][b : b + 1],
                clip_times=[time_s],
                video_id=self.reader.name,
            )
            for name in self._classification
        }


def check_drop(drop: Any) -> str:
    """``drop`` if it is one of :data:`DROP_POLICIES`."""
    if drop not in DROP_POLICIES:
        raise ValueError(f"drop={drop!r}: choose 'latest' (live) or 'none' (every keyframe)")
    return str(drop)


def open_detection_stream(
    detector: Detector,
    source: Any,
    *,
    every: float,
    keyframe: str,
    drop: str,
    heads: Any,
    boxes: Any,
    person_detector: Any,
    normalized: bool,
    threshold: float | None,
    fps: float | None,
    timeout_s: float,
    reconnect: int,
    track: bool,
    track_fps: float,
    reid: bool = False,
) -> DetectionStream:
    """Checks every argument, opens the source, then starts the reader (see ``Detector.stream``)."""
    from cofin_sdk.detector.inputs import check_every
    from cofin_sdk.io.stream import open_stream
    from cofin_sdk.preprocessing import check_placement

    check_every(every, math.inf)  # a positive number; against the frame rate once it is known
    check_placement(keyframe)
    check_drop(drop)
    for name, value in (("timeout_s", timeout_s), ("reconnect", reconnect)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name}={value!r}: must be a number >= 0")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"threshold={threshold!r}: must be in [0, 1]")
    detection, classification = detector._split_heads(heads)
    tracker = detector._tracker(track, track_fps, detection, heads, reid)
    person = detector._person_detector(boxes, person_detector, normalized) if detection else None
    prep = detector.preprocessing
    reader = open_stream(source, timeout_s=float(timeout_s), reconnect=int(reconnect), fps=fps)
    try:
        check_every(every, reader.fps)
        reader.ring.capacity = ring_capacity(reader.fps, every, prep.num_frames, prep.frame_stride)
    except BaseException:
        reader.close()
        raise
    stream = DetectionStream(
        detector,
        reader,
        every=float(every),
        placement=keyframe,
        drop=drop,
        person=person,
        detection=detection,
        classification=classification,
        threshold=threshold or 0.0,
        tracker=tracker,
        track_fps=float(track_fps),
    )
    reader.start()
    return stream
