"""Look-up person detectors: boxes given by the caller, or read from an AVA-format CSV."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cofin_sdk.formats.ava import AVA_TIME_OFFSET, read_ava_csv, read_person_boxes_csv
from cofin_sdk.formats.ava_tracks import ground_truth_frames
from cofin_sdk.formats.boxes import to_pixels, validate_boxes

from ._base import PersonBoxes, check_image, empty_person_boxes, finalize_boxes, finalize_order

logger = logging.getLogger(__name__)

__all__ = ["AVA_TIME_OFFSET", "AvaCsvBoxes", "GivenBoxes"]


class GivenBoxes:
    """Caller-supplied person boxes, per keyframe timestamp or the same for every frame.

    Boxes are in pixels of the frame unless ``normalized=True`` says they are fractions
    of it: nothing is guessed. Pixel boxes whose coordinates are all <= 1 on a larger
    frame are taken as (tiny) pixel boxes, with a warning, since that is usually a
    forgotten ``normalized=True``.

    Args:
        boxes: ``{timestamp_seconds: [N, 4]}`` or a single ``[N, 4]`` used at every frame,
            ``x1, y1, x2, y2``.
        scores: Same layout as ``boxes`` with ``[N]`` scores; default 1.0.
        normalized: Boxes are in [0, 1] of the frame instead of pixels.
        tolerance: A request at time ``t`` uses the given timestamp nearest to ``t``
            within this many seconds.
        missing: ``"error"`` (default) raises for a timestamp with no entry within
            ``tolerance``; ``"empty"`` returns no boxes.
        ids: Same layout as ``boxes`` with ``[N]`` person ids (>= 0), e.g. AVA column 8.
            ``Detector.detect(..., person_detector=GivenBoxes(..., ids=...), track=True)``
            keeps them as the track ids instead of running the tracker (:meth:`identities`).

    Raises:
        ValueError: On malformed boxes or scores (checked at construction, by THE box
            rule of :mod:`cofin_sdk.formats.boxes`), and at call time for pixel boxes outside the
            frame or a missing timestamp.

    Example:
        >>> import numpy as np
        >>> given = GivenBoxes({2.0: [[10, 10, 60, 120]]})
        >>> boxes, scores = given(np.zeros((240, 320, 3), np.uint8), timestamp=2.0)
        >>> boxes.tolist(), scores.tolist()
        ([[10.0, 10.0, 60.0, 120.0]], [1.0])
    """

    name = "given"

    def __init__(
        self,
        boxes: Mapping[float, Any] | Any,
        scores: Mapping[float, Any] | Any = None,
        *,
        normalized: bool = False,
        tolerance: float = 1e-3,
        missing: str = "error",
        ids: Mapping[float, Any] | Any = None,
    ) -> None:
        if missing not in ("error", "empty"):
            raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
        if not isinstance(normalized, bool):
            raise TypeError(f"normalized must be True or False, got {normalized!r}")
        self.normalized, self.tolerance, self.missing = normalized, tolerance, missing
        self.per_timestamp = isinstance(boxes, Mapping)
        box_map = dict(boxes) if self.per_timestamp else {None: boxes}
        if scores is not None and isinstance(scores, Mapping) != self.per_timestamp:
            raise ValueError("scores must be a mapping exactly when boxes is a mapping")
        score_map = (
            (dict(scores) if self.per_timestamp else {None: scores}) if scores is not None else {}
        )
        self._entries: dict[float | None, PersonBoxes] = {}
        self._warned = False
        for key, value in box_map.items():
            what = "boxes" if key is None else f"boxes at t={key}"
            array = validate_boxes(
                np.asarray(value, dtype=np.float32) if _numeric(value) else value,
                normalized=normalized,
                clip=False,
                what=what,
                hint="pixel boxes need normalized=False" if normalized else "",
            ).astype(np.float32)
            score = np.asarray(score_map.get(key, np.ones(len(array))), dtype=np.float32).reshape(
                -1
            )
            if (
                len(score) != len(array)
                or not np.isfinite(score).all()
                or (len(score) and (score.min() < 0 or score.max() > 1))
            ):
                raise ValueError(
                    f"{what}: scores must be {len(array)} values in [0, 1], got {score.tolist()}"
                )
            self._entries[None if key is None else float(key)] = PersonBoxes(array, score)
        self._times = np.array(sorted(k for k in self._entries if k is not None), dtype=np.float64)
        self._ids = self._check_ids(ids)
        self._last_ids: tuple[float | None, np.ndarray] | None = None

    def _check_ids(self, ids: Any) -> dict[float | None, np.ndarray] | None:
        if ids is None:
            return None
        if isinstance(ids, Mapping) != self.per_timestamp:
            raise ValueError("ids must be a mapping exactly when boxes is a mapping")
        id_map = dict(ids) if self.per_timestamp else {None: ids}
        checked = {}
        for key, entry in self._entries.items():
            value = np.asarray(id_map.get(key))
            if (
                value.dtype.kind not in "iu"
                or value.shape != (len(entry.boxes),)
                or (len(value) and value.min() < 0)
            ):
                where = "ids" if key is None else f"ids at t={key}"
                raise ValueError(
                    f"{where}: must be {len(entry.boxes)} integer person ids >= 0, one per box"
                )
            checked[key] = value.astype(np.int64)
        return checked

    def identities(self, timestamp: float | None = None) -> np.ndarray | None:
        """The given ids of the boxes the last call at ``timestamp`` returned, in their order
        (``None`` without ``ids=``)."""
        if self._last_ids is None or self._last_ids[0] != timestamp:
            return None
        return self._last_ids[1]

    @property
    def timestamps(self) -> list[float]:
        """The timestamps boxes were given for (empty when the same boxes apply everywhere)."""
        return self._times.tolist()

    def has(self, timestamp: float) -> bool:
        """Whether boxes were given for ``timestamp`` (within ``tolerance``)."""
        if not self.per_timestamp:
            return True
        return bool(len(self._times)) and bool(
            np.min(np.abs(self._times - timestamp)) <= self.tolerance
        )

    def _lookup(self, timestamp: float | None) -> PersonBoxes | None:
        if not self.per_timestamp:
            return self._entries[None]
        if timestamp is None:
            raise ValueError("GivenBoxes with per-timestamp boxes needs the keyframe timestamp")
        if self.has(timestamp):
            return self._entries[self._key(timestamp)]
        if self.missing == "error":
            raise ValueError(
                f"no boxes given for t={timestamp} s (boxes are given for {self.timestamps} s)"
            )
        return None

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = check_image(frame)
        entry = self._lookup(timestamp)
        if entry is None:
            return empty_person_boxes()
        height, width = frame.shape[:2]
        where = "boxes" if timestamp is None else f"boxes at t={timestamp}"
        if self.normalized:
            boxes = to_pixels(entry.boxes, (width, height))
        else:
            boxes = entry.boxes
            if not self._warned and len(boxes) and boxes.max() <= 1 and max(width, height) > 2:
                logger.warning(
                    "%s are all <= 1 pixel on a %dx%d frame: taken as pixels; pass "
                    "normalized=True if they are fractions of the frame",
                    where,
                    width,
                    height,
                )
                self._warned = True
        boxes = validate_boxes(
            boxes,
            (width, height),
            what=where,
            hint=""
            if self.normalized
            else "boxes are pixels of the frame; pass normalized=True for [0, 1] fractions",
        )
        found, rows = finalize_order(boxes, entry.scores, frame.shape)
        if self._ids is not None:
            key = None if not self.per_timestamp else self._key(timestamp)
            self._last_ids = (timestamp, self._ids[key][rows])
        return found

    def _key(self, timestamp: float | None) -> float:
        return float(self._times[np.argmin(np.abs(self._times - timestamp))])

    def __repr__(self) -> str:
        where = f"{len(self._times)} timestamps" if self.per_timestamp else "every frame"
        return f"GivenBoxes({where}, normalized={self.normalized})"


def _numeric(value: Any) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


class AvaCsvBoxes:
    """Person boxes from an AVA-format CSV (e.g. ``ava_val_predicted_boxes.csv``).

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id, score`` with normalised
    boxes, the action column possibly empty and column 8 the detector score (the
    PySlowFast layout), read by :func:`cofin_sdk.formats.ava.read_person_boxes_csv` (the
    one AVA person-box reader; rules and errors as documented there). A box repeated on
    several rows (one per action) is kept once, with its highest score.

    A file is only ever applied to the video it names: with ``video_id=None`` the
    Detector binds it to the video it processes (its file name without extension, see
    :meth:`for_video`); a video the file has no rows for is an error listing the ids the
    file holds.

    With ``person_ids=True`` the file is AVA *ground truth* instead (column 8 = the person
    id, e.g. ``ava_val_v2.2.csv``): every box scores 1 and keeps its id when tracked
    (:meth:`identities`, as :class:`GivenBoxes` with ``ids=``).

    Args:
        path: CSV file.
        video_id: Which video's rows to use (default: the video being processed).
        score_threshold: Boxes scoring below this are dropped (0.8 is the AVA training
            convention; the paper evaluates AVA-Kinetics with 0.2).
        time_offset: CSV timestamp = video time + ``time_offset``. Use
            :data:`AVA_TIME_OFFSET` (900) for AVA's 15-minute cuts.
        tolerance: A request at video time ``t`` uses the CSV timestamp nearest to
            ``t + time_offset`` within this many seconds (0.5 = nearest integer second).
        person_ids: Read column 8 as person ids (ground truth), not detector scores.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For a malformed row (naming the file and line), or a ``video_id``
            the file has no rows for.

    Example:
        >>> import numpy as np, pathlib, tempfile
        >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "boxes.csv"
        >>> _ = csv_path.write_text("vid,902,0.1,0.2,0.5,0.9,,0.95\\n")
        >>> boxes = AvaCsvBoxes(csv_path, "vid", time_offset=AVA_TIME_OFFSET)
        >>> boxes(np.zeros((100, 200, 3), np.uint8), timestamp=2.0).boxes.tolist()
        [[20.0, 20.0, 100.0, 90.0]]
    """

    name = "ava_csv"

    def __init__(
        self,
        path: str | os.PathLike,
        video_id: str | None = None,
        *,
        score_threshold: float = 0.8,
        time_offset: float = 0.0,
        tolerance: float = 0.5,
        person_ids: bool = False,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"AVA person-box CSV not found: {self.path}")
        self.score_threshold, self.time_offset, self.tolerance = (
            score_threshold,
            time_offset,
            tolerance,
        )
        self.person_ids = person_ids
        self._people = (
            ground_truth_frames(read_ava_csv(self.path, kind="groundtruth")) if person_ids else {}
        )
        self._all = (
            {
                (v, t): (b, np.ones(len(b), np.float32))
                for v, f in self._people.items()
                for t, (_, b) in f.items()
            }
            if person_ids
            else read_person_boxes_csv(self.path, min_score=score_threshold)
        )
        self._given: GivenBoxes | None = None
        self.video_ids = sorted({video for video, _ in self._all})
        self.video_id: str | None = None
        self._boxes: dict[float, PersonBoxes] = {}
        self._times = np.zeros(0)
        if video_id is not None:
            self._bind(video_id)
        self._warned = False

    def _bind(self, video_id: str) -> None:
        if video_id not in self.video_ids:
            shown = ", ".join(self.video_ids[:10]) + (" ..." if len(self.video_ids) > 10 else "")
            raise ValueError(
                f"{self.path} has no rows for video id {video_id!r}; it holds "
                f"{len(self.video_ids)} video id(s): {shown or 'none'}"
            )
        self.video_id = video_id
        self._boxes = {
            float(time): PersonBoxes(boxes, scores)
            for (video, time), (boxes, scores) in self._all.items()
            if video == video_id
        }
        self._times = np.array(sorted(self._boxes), dtype=np.float64)
        if self.person_ids:
            frames = self._people[video_id]
            self._given = GivenBoxes(
                {t - self.time_offset: boxes for t, (_, boxes) in frames.items()},
                ids={t - self.time_offset: ids for t, (ids, _) in frames.items()},
                normalized=True,
                tolerance=self.tolerance,
                missing="empty",
            )

    def identities(self, timestamp: float | None = None) -> np.ndarray | None:
        """With ``person_ids=True``: the person ids of the boxes the last call at
        ``timestamp`` returned, in their order; otherwise ``None`` (no ids in the file)."""
        return None if self._given is None else self._given.identities(timestamp)

    def for_video(self, video_id: str) -> AvaCsvBoxes:
        """This file's boxes for ``video_id``; an explicit ``video_id`` given at construction wins.

        Raises:
            ValueError: If the file has no rows for the video (the ids it holds are listed),
                or ``video_id`` is empty (an array or nameless stream) and none was given.
        """
        if self.video_id is not None:
            return self
        if not video_id:
            raise ValueError(
                f"cannot tell which video's rows of {self.path} to use (the video has no file "
                "name): pass AvaCsvBoxes(path, video_id=...)"
            )
        bound = object.__new__(AvaCsvBoxes)
        bound.__dict__.update(self.__dict__)
        bound._bind(video_id)
        return bound

    @property
    def timestamps(self) -> list[float]:
        """Video times (CSV timestamp minus ``time_offset``) that have rows."""
        return (self._times - self.time_offset).tolist()

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = check_image(frame)
        if self.video_id is None:
            raise ValueError(
                f"AvaCsvBoxes({str(self.path)!r}) is not bound to a video: pass video_id= or "
                "use it through Detector.detect"
            )
        if timestamp is None:
            raise ValueError("AvaCsvBoxes needs the keyframe timestamp (seconds of the video)")
        if self._given is not None:
            return self._given(frame, timestamp)
        target = timestamp + self.time_offset
        nearest = float(self._times[np.argmin(np.abs(self._times - target))])
        if abs(nearest - target) > self.tolerance:
            if not self._warned and not self._times[0] - 1 <= target <= self._times[-1] + 1:
                logger.warning(
                    "%s: no rows near t=%s (CSV time %s); the file covers %s..%s. Wrong "
                    "time_offset? AVA cuts need time_offset=%s",
                    self.path,
                    timestamp,
                    target,
                    self._times[0],
                    self._times[-1],
                    AVA_TIME_OFFSET,
                )
                self._warned = True
            return empty_person_boxes()
        entry = self._boxes[nearest]
        height, width = frame.shape[:2]
        return finalize_boxes(to_pixels(entry.boxes, (width, height)), entry.scores, frame.shape)

    def __repr__(self) -> str:
        return (
            f"AvaCsvBoxes({str(self.path)!r}, video_id={self.video_id!r}, "
            f"score_threshold={self.score_threshold}, time_offset={self.time_offset}"
            + (", person_ids=True)" if self.person_ids else ")")
        )
