"""Inference results: person-box action detections (clip classifications live in
:mod:`cofin_sdk.results.classifications` and are re-exported here).

Results are plain numpy dataclasses (in the style of ``supervision.Detections``):
validated on construction, indexable with boolean masks, mergeable, and exportable
to JSON, the AVA submission CSV and pandas. Nothing here needs torch, so results can
be loaded and inspected in light-weight processes (web servers, notebooks).

Coordinates: boxes are ``x1, y1, x2, y2`` in pixels of the ORIGINAL video frame
(``frame_size = (W, H)``); ``to_ava_csv`` normalises them to [0, 1].
Times: ``timestamps`` are keyframe times in seconds of the video (0 = first frame);
AVA movie seconds are ``timestamp + 900`` for the 15-minute cuts, which is what the
``timestamp_offset`` argument of ``to_ava_csv`` is for.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from cofin_sdk.formats.ava import write_ava_csv
from cofin_sdk.formats.boxes import to_normalized, validate_boxes

from ._common import as_array, check_unit_interval, load_json, save_json, write_text
from .classifications import Classifications  # re-exported: results API
from .timeline import SCHEMA_VERSION, ActionTimeline, TimelineRule, check_schema_version

logger = logging.getLogger(__name__)

__all__ = ["Classifications", "Detections", "PERSON_DETECTOR_NAMES"]

#: Names recorded in ``Detections.detector`` by the built-in person detectors.
PERSON_DETECTOR_NAMES = ("given", "ava_csv", "torchvision_frcnn", "opencv_hog")

_JSON_FORMAT = "cofin.detections/v1"


@dataclass(eq=False)
class Detections:
    """Person boxes with per-class action scores, for one keyframe or many.

    Attributes:
        boxes: ``float32 [N, 4]`` ``x1, y1, x2, y2`` in pixels of the original frame.
        person_scores: ``float32 [N]`` person-detector confidence in [0, 1].
        action_scores: ``float32 [N, C]`` per-class sigmoid probabilities (multi-label).
        class_names: ``C`` unique action names.
        frame_size: ``(W, H)`` of the original frame in pixels.
        timestamps: ``float64 [N]`` keyframe time of each box in seconds of the video.
        class_ids: ``C`` unique positive class ids (AVA label-map ids); default ``1..C``.
        video_id: Identifier of the video (used as the first AVA CSV column).
        detector: Which person detector produced the boxes (``"given"``, ``"ava_csv"``,
            ``"torchvision_frcnn"``, ``"opencv_hog"`` or a custom name).
        person_ids: Optional ``int64 [N]`` person ids given with the input (AVA column 8).
        track_ids: ``int64 [N]`` track of each box (``detect(track=True)``), ``-1`` = not
            tracked; all ``-1`` by default.
        threshold: Reporting threshold in [0, 1]: actions scoring below it are hidden by
            ``top_actions``, ``labels`` and ``draw``. Boxes and scores are never dropped by
            it (use mask indexing, e.g. ``d[d.max_action_scores >= 0.5]``, to drop boxes).

    Example:
        >>> import numpy as np
        >>> d = Detections(
        ...     boxes=[[10, 20, 110, 220], [200, 40, 300, 230]],
        ...     person_scores=[0.99, 0.85],
        ...     action_scores=[[0.9, 0.1], [0.2, 0.7]],
        ...     class_names=("stand", "sit"),
        ...     frame_size=(320, 240),
        ...     timestamps=[2.0, 2.0],
        ...     video_id="demo",
        ... )
        >>> len(d), d.top_actions(1)
        (2, [[('stand', 0.9)], [('sit', 0.7)]])
        >>> len(d[d.person_scores > 0.9])
        1
        >>> Detections.from_json(d.to_json()) == d
        True
    """

    boxes: np.ndarray
    person_scores: np.ndarray
    action_scores: np.ndarray
    class_names: tuple[str, ...]
    frame_size: tuple[int, int]
    timestamps: np.ndarray
    class_ids: tuple[int, ...] | None = None
    video_id: str = ""
    detector: str = "given"
    person_ids: np.ndarray | None = None
    threshold: float = 0.0
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._validate_metadata()
        self._validate_arrays()

    # ----------------------------------------------------------------- validation
    def _validate_metadata(self) -> None:
        if isinstance(self.class_names, str) or not all(
            isinstance(n, str) for n in self.class_names
        ):
            raise ValueError(f"class_names must be a sequence of str, got {self.class_names!r}")
        self.class_names = tuple(self.class_names)
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be unique, got {self.class_names!r}")
        num_classes = len(self.class_names)
        if self.class_ids is None:
            self.class_ids = tuple(range(1, num_classes + 1))
        try:
            self.class_ids = tuple(int(i) for i in self.class_ids)
        except (TypeError, ValueError):
            raise ValueError(f"class_ids must be integers, got {self.class_ids!r}") from None
        if len(self.class_ids) != num_classes:
            raise ValueError(
                f"class_ids has {len(self.class_ids)} entries but class_names has {num_classes}"
            )
        if len(set(self.class_ids)) != num_classes or min(self.class_ids) < 1:
            raise ValueError(f"class_ids must be unique positive integers, got {self.class_ids!r}")
        try:
            width, height = (int(v) for v in self.frame_size)
        except (TypeError, ValueError):
            raise ValueError(f"frame_size must be (W, H), got {self.frame_size!r}") from None
        if width <= 0 or height <= 0:
            raise ValueError(f"frame_size must be positive (W, H), got {self.frame_size!r}")
        self.frame_size = (width, height)
        if (
            not isinstance(self.video_id, str)
            or not isinstance(self.detector, str)
            or not self.detector
        ):
            raise ValueError("video_id must be a str and detector a non-empty str")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        self.threshold = float(self.threshold)

    def _validate_arrays(self) -> None:
        num_classes = len(self.class_names)
        self.boxes = as_array("boxes", self.boxes, np.float32, 2, 4)
        num_boxes = len(self.boxes)
        self.person_scores = as_array("person_scores", self.person_scores, np.float32, 1)
        if np.size(self.action_scores) == 0:  # e.g. [] for no boxes
            self.action_scores = np.zeros((0, num_classes), np.float32)
        self.action_scores = as_array("action_scores", self.action_scores, np.float32, 2)
        self.timestamps = as_array("timestamps", self.timestamps, np.float64, 1)
        arrays = {
            "person_scores": self.person_scores,
            "action_scores": self.action_scores,
            "timestamps": self.timestamps,
        }
        if self.person_ids is not None:
            self.person_ids = as_array("person_ids", self.person_ids, np.int64, 1)
            arrays["person_ids"] = self.person_ids
        if self.track_ids is None:
            self.track_ids = np.full(num_boxes, -1, np.int64)
        self.track_ids = as_array("track_ids", self.track_ids, np.int64, 1)
        arrays["track_ids"] = self.track_ids
        if len(self.track_ids) and self.track_ids.min() < -1:
            raise ValueError(
                f"track_ids must be >= 0, or -1 for untracked; got {self.track_ids.min()}"
            )
        for name, array in arrays.items():
            if len(array) != num_boxes:
                raise ValueError(f"{name} has {len(array)} rows but boxes has {num_boxes}")
        if self.action_scores.shape[1] != num_classes:
            raise ValueError(
                f"action_scores has {self.action_scores.shape[1]} columns but class_names has "
                f"{num_classes} names"
            )
        check_unit_interval("person_scores", self.person_scores)
        check_unit_interval("action_scores", self.action_scores)
        if num_boxes and self.timestamps.min() < 0:
            raise ValueError(f"timestamps must be >= 0 seconds, got {self.timestamps.min()}")
        self._validate_boxes()

    def _validate_boxes(self) -> None:
        # THE box rule: pixels of the frame, overshoot up to the tolerance is clipped.
        self.boxes = validate_boxes(
            self.boxes,
            self.frame_size,
            what="boxes",
            hint="boxes are x1, y1, x2, y2 pixels of the frame (normalised boxes? multiply "
            "by (W, H, W, H))",
        ).astype(np.float32)

    # ------------------------------------------------------------- construction
    @classmethod
    def empty(
        cls,
        class_names: Sequence[str],
        frame_size: tuple[int, int],
        *,
        class_ids: Sequence[int] | None = None,
        video_id: str = "",
        detector: str = "given",
        threshold: float = 0.0,
    ) -> Detections:
        """Returns detections with no boxes (e.g. a video where nobody was found).

        Example:
            >>> len(Detections.empty(("stand", "sit"), frame_size=(320, 240)))
            0
        """
        num_classes = len(class_names)
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            person_scores=np.zeros(0, np.float32),
            action_scores=np.zeros((0, num_classes), np.float32),
            class_names=tuple(class_names),
            frame_size=frame_size,
            timestamps=np.zeros(0),
            class_ids=class_ids,
            video_id=video_id,
            detector=detector,
            threshold=threshold,
        )

    @classmethod
    def merge(cls, detections_list: Sequence[Detections]) -> Detections:
        """Concatenates detections of the same video, classes, frame size and detector.

        Args:
            detections_list: Non-empty sequence of ``Detections``.

        Returns:
            One ``Detections`` with the rows of all inputs, in order.

        Raises:
            ValueError: If the list is empty or the inputs disagree on metadata, or only
                some of them carry ``person_ids``.
        """
        if not detections_list:
            raise ValueError("merge() needs at least one Detections (use Detections.empty())")
        first = detections_list[0]
        for other in detections_list[1:]:
            for name in (
                "class_names",
                "class_ids",
                "frame_size",
                "video_id",
                "detector",
                "threshold",
            ):
                if getattr(other, name) != getattr(first, name):
                    raise ValueError(
                        f"cannot merge Detections with different {name}: "
                        f"{getattr(first, name)!r} vs {getattr(other, name)!r}"
                    )
        with_ids = [d.person_ids is not None for d in detections_list]
        if any(with_ids) and not all(with_ids):
            raise ValueError("cannot merge Detections where only some have person_ids")
        return replace(
            first,
            boxes=np.concatenate([d.boxes for d in detections_list]),
            person_scores=np.concatenate([d.person_scores for d in detections_list]),
            action_scores=np.concatenate([d.action_scores for d in detections_list]),
            timestamps=np.concatenate([d.timestamps for d in detections_list]),
            track_ids=np.concatenate([d.track_ids for d in detections_list]),
            person_ids=np.concatenate([d.person_ids for d in detections_list])
            if all(with_ids)
            else None,
        )

    # ---------------------------------------------------------- container protocol
    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[Detections]:
        """Yields one single-row ``Detections`` per box."""
        for index in range(len(self)):
            yield self[index]

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Selects rows by int, slice, integer array or boolean mask; always returns Detections."""
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} detections")
            index = [int(index)]
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask has shape {index.shape}, expected ({len(self)},)")
            if index.size == 0:
                index = index.astype(np.int64)
        return replace(
            self,
            boxes=self.boxes[index],
            person_scores=self.person_scores[index],
            action_scores=self.action_scores[index],
            timestamps=self.timestamps[index],
            person_ids=None if self.person_ids is None else self.person_ids[index],
            track_ids=self.track_ids[index],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        ids_equal = (self.person_ids is None and other.person_ids is None) or (
            self.person_ids is not None
            and other.person_ids is not None
            and np.array_equal(self.person_ids, other.person_ids)
        )
        return (
            ids_equal
            and np.array_equal(self.boxes, other.boxes)
            and np.array_equal(self.person_scores, other.person_scores)
            and np.array_equal(self.action_scores, other.action_scores)
            and np.array_equal(self.timestamps, other.timestamps)
            and np.array_equal(self.track_ids, other.track_ids)
            and (
                self.class_names,
                self.class_ids,
                self.frame_size,
                self.video_id,
                self.detector,
                self.threshold,
            )
            == (
                other.class_names,
                other.class_ids,
                other.frame_size,
                other.video_id,
                other.detector,
                other.threshold,
            )
        )

    def __repr__(self) -> str:
        times = np.unique(self.timestamps)
        span = f"{times[0]:g}-{times[-1]:g}s" if len(times) else "-"
        return (
            f"Detections(n={len(self)}, keyframes={len(times)} [{span}], classes={len(self.class_names)}, "
            f"frame_size={self.frame_size}, video_id={self.video_id!r}, detector={self.detector!r})"
        )

    # ------------------------------------------------------------------ queries
    @property
    def max_action_scores(self) -> np.ndarray:
        """``float32 [N]``: the highest action score of each box (0 for no classes)."""
        return self.action_scores.max(axis=1) if len(self) else np.zeros(0, np.float32)

    @property
    def normalized_boxes(self) -> np.ndarray:
        """``float32 [N, 4]`` boxes divided by ``(W, H, W, H)``, in [0, 1]."""
        return to_normalized(self.boxes, self.frame_size)

    @property
    def tracked(self) -> bool:
        """Whether any box carries a track id (``detect(track=True)``)."""
        return bool(len(self) and (self.track_ids >= 0).any())

    def tracks(self) -> dict[int, Detections]:
        """Per-track trajectories: ``{track_id: rows of that track in time order}``.

        Untracked rows (``-1``) belong to no track. Example: ``for track_id, rows in
        d.tracks().items(): print(track_id, rows.timestamps, rows.boxes)``.
        """
        order = np.argsort(self.timestamps, kind="stable")
        ordered = self[order]
        return {
            int(t): ordered[ordered.track_ids == t] for t in np.unique(self.track_ids) if t >= 0
        }

    def timeline(
        self,
        threshold: float = 0.5,
        *,
        off_threshold: float | None = None,
        min_duration_s: float = 0.0,
        max_gap_s: float = 0.0,
        period_s: float | None = None,
    ) -> ActionTimeline:
        """Per-track action segments by THE timeline rule (:mod:`cofin_sdk.results.timeline`).

        Args:
            threshold: On threshold: a segment opens at a keyframe scoring at least this.
            off_threshold: Off threshold (<= ``threshold``, default ``threshold``): an open
                segment lasts while its keyframes score at least this.
            min_duration_s: Segments shorter than this are dropped (after gap filling).
            max_gap_s: Segments of one track and action at most this far apart merge.
            period_s: Keyframe period (default: the median spacing of the keyframes, 1 s
                for a single keyframe); each keyframe covers one period.

        Raises:
            ValueError: A value out of range (naming the argument), or untracked detections
                (use ``detect(..., track=True)``).
        """
        times = np.unique(self.timestamps)
        if period_s is None:
            period_s = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        rule = TimelineRule(threshold, off_threshold, max_gap_s, min_duration_s, period_s)
        if len(self) and not self.tracked:
            raise ValueError("timeline() needs tracked detections: use detect(..., track=True)")
        return ActionTimeline.from_scores(
            self.track_ids, self.timestamps, self.action_scores, self.class_names, rule,
            video_id=self.video_id,
        )  # fmt: skip

    def filter(self, threshold: float) -> Detections:
        """Returns a copy whose reporting threshold is ``threshold``.

        Actions below the threshold are hidden from ``top_actions``, ``labels`` and
        ``draw``; every box is kept (a person doing nothing above the threshold is still
        a detected person) and scores are unchanged, so exports stay complete.
        """
        return replace(self, threshold=threshold)

    def top_actions(
        self, k: int = 3, threshold: float | None = None
    ) -> list[list[tuple[str, float]]]:
        """Per box, up to ``k`` ``(class_name, score)`` pairs with score >= threshold, best first.

        Args:
            k: Maximum number of actions per box (>= 1).
            threshold: Overrides ``self.threshold`` when given.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        threshold = self.threshold if threshold is None else threshold
        order = np.argsort(-self.action_scores, axis=1, kind="stable")[:, :k]
        result = []
        for row, classes in zip(self.action_scores, order, strict=True):
            result.append(
                [
                    (self.class_names[c], round(float(row[c]), 6))
                    for c in classes
                    if row[c] >= threshold
                ]
            )
        return result

    def labels(self, k: int = 3, threshold: float | None = None) -> list[str]:
        """One display string per box, e.g. ``"stand 0.91, talk 0.64"`` (empty if none)."""
        return [
            ", ".join(f"{name} {score:.2f}" for name, score in actions)
            for actions in self.top_actions(k, threshold)
        ]

    def drawing_keys(
        self, top_k: int = 3, threshold: float | None = None
    ) -> tuple[list[str], np.ndarray]:
        """What drawings show per box: the label (``"#7 walk 0.91, talk 0.64"`` for a tracked
        box, the plain :meth:`labels` otherwise) and the colour key (the track id when
        tracked, else the given person id, else the row)."""
        labels = self.labels(top_k, threshold)
        if self.tracked:
            labels = [
                f"#{track} {label}".strip() if track >= 0 else label
                for track, label in zip(self.track_ids.tolist(), labels, strict=True)
            ]
            return labels, self.track_ids
        return labels, self.person_ids if self.person_ids is not None else np.arange(len(self))

    def keyframes(self) -> list[tuple[float, Detections]]:
        """Groups rows by timestamp: ``[(time, detections_at_time), ...]`` in time order.

        Keyframes without any box do not appear (there is no row to carry them).
        """
        return [(float(t), self[self.timestamps == t]) for t in np.unique(self.timestamps)]

    def at(self, time: float, tolerance: float = 0.5) -> Detections:
        """Detections of the keyframe nearest to ``time`` within ``tolerance`` seconds.

        Returns an empty result when no keyframe is close enough.
        """
        if not len(self):
            return self
        times = np.unique(self.timestamps)
        nearest = times[np.argmin(np.abs(times - time))]
        if abs(nearest - time) > tolerance:
            return self[np.zeros(len(self), dtype=bool)]
        return self[self.timestamps == nearest]

    # ------------------------------------------------------------------ exports
    def to_dict(self, timeline: ActionTimeline | None = None) -> dict[str, Any]:
        """A JSON-serialisable dict (lists of floats); inverse of ``from_dict``.

        The layout is versioned (``schema_version``) and documented in
        ``docs/results_schema.json``: the detections, their ``tracks`` (per-track box
        trajectories, derived from ``track_ids`` for readers; ignored when reading back)
        and, when given, the ``timeline`` travel together in one document.
        """
        tracks = [
            {
                "track_id": track,
                "timestamps": rows.timestamps.tolist(),
                "boxes": rows.boxes.tolist(),
            }
            for track, rows in self.tracks().items()
        ]
        return {
            "format": _JSON_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "video_id": self.video_id,
            "detector": self.detector,
            "frame_size": list(self.frame_size),
            "class_names": list(self.class_names),
            "class_ids": list(self.class_ids or ()),
            "threshold": self.threshold,
            "boxes": self.boxes.tolist(),
            "person_scores": self.person_scores.tolist(),
            "action_scores": self.action_scores.tolist(),
            "timestamps": self.timestamps.tolist(),
            "person_ids": None if self.person_ids is None else self.person_ids.tolist(),
            "track_ids": self.track_ids.tolist(),
            "tracks": tracks,
            "timeline": None if timeline is None else timeline.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detections:
        """Rebuilds detections from ``to_dict`` output (validated like any construction)."""
        if data.get("format") != _JSON_FORMAT:
            raise ValueError(
                f"not a cofin detections dict: format={data.get('format')!r}, "
                f"expected {_JSON_FORMAT!r}"
            )
        if "schema_version" in data:  # files written before versioning have none
            check_schema_version(data, "detections")
        num_classes = len(data["class_names"])
        return cls(
            boxes=np.asarray(data["boxes"], np.float32).reshape(-1, 4),
            person_scores=data["person_scores"],
            action_scores=np.asarray(data["action_scores"], np.float32).reshape(-1, num_classes),
            class_names=tuple(data["class_names"]),
            frame_size=tuple(data["frame_size"]),
            timestamps=data["timestamps"],
            class_ids=tuple(data["class_ids"]),
            video_id=data["video_id"],
            detector=data["detector"],
            person_ids=data.get("person_ids"),
            track_ids=data.get("track_ids"),
            threshold=data.get("threshold", 0.0),
        )

    def to_json(
        self,
        path: str | Path | None = None,
        indent: int | None = None,
        *,
        timeline: ActionTimeline | None = None,
    ) -> str:
        """Serialises to JSON (float32 values round-trip exactly); writes ``path`` if given.

        With ``timeline``, the document carries it too (read it back with
        ``ActionTimeline.from_json`` on the same file).
        """
        return save_json(self.to_dict(timeline), path, indent)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Detections:
        """Parses ``to_json`` output, given as the JSON text or a path to a file."""
        return cls.from_dict(load_json(text_or_path))

    def to_ava_csv(
        self,
        path_or_buffer: str | Path | IO[str] | None = None,
        video_id: str | None = None,
        timestamp_offset: float = 0.0,
        min_score: float = 0.0,
    ) -> str:
        """Writes the AVA detection/submission CSV (no header).

        Columns: ``video_id, timestamp, x1, y1, x2, y2, action_id, score`` with boxes
        normalised to [0, 1], one row per (box, class), rows in box order, written by
        :func:`cofin_sdk.formats.ava.write_ava_csv` (the one AVA writer: 6 decimals,
        timestamps by :func:`~cofin_sdk.formats.ava.format_timestamp`).

        Args:
            path_or_buffer: File path or text buffer to write; ``None`` only returns the text.
            video_id: Overrides ``self.video_id``.
            timestamp_offset: Added to every timestamp; 900 turns seconds of an AVA
                15-minute cut into AVA movie seconds.
            min_score: Rows with score below this are omitted. The default keeps every
                class, which is what AVA mAP wants (the evaluator keeps the top 50 rows
                per keyframe itself); ``self.threshold`` is deliberately not applied.

        Returns:
            The CSV text.

        Raises:
            ValueError: Without a video id, or with one that holds a comma.
        """
        video_id = self.video_id if video_id is None else video_id
        if not video_id:
            raise ValueError(
                "the AVA CSV needs a video_id: pass video_id=... or set Detections.video_id"
            )
        buffer = io.StringIO()
        write_ava_csv(
            buffer,
            video_id,
            self.timestamps + timestamp_offset,
            self.normalized_boxes,
            self.class_ids or (),
            self.action_scores,
            min_score=min_score,
        )
        return write_text(buffer.getvalue(), path_or_buffer)

    def to_pandas(self) -> Any:
        """One row per box: ``video_id, timestamp, x1, y1, x2, y2, person_score``,
        ``person_id`` (when present), ``track_id`` and one score column per class name.

        Raises:
            ImportError: If pandas is not installed (``pip install "cofin-sdk[train]"``).
        """
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                'to_pandas() needs pandas: pip install "cofin-sdk[train]" (or pip install pandas)'
            ) from err
        columns: dict[str, Any] = {
            "video_id": [self.video_id] * len(self),
            "timestamp": self.timestamps,
            **{name: self.boxes[:, i] for i, name in enumerate(("x1", "y1", "x2", "y2"))},
            "person_score": self.person_scores,
        }
        if self.person_ids is not None:
            columns["person_id"] = self.person_ids
        columns["track_id"] = self.track_ids
        for i, name in enumerate(self.class_names):
            columns[name] = self.action_scores[:, i]
        return pd.DataFrame(columns)

    # ------------------------------------------------------------------ drawing
    def draw(
        self,
        frame: np.ndarray,
        *,
        top_k: int = 3,
        threshold: float | None = None,
        thickness: int | None = None,
        font_scale: float | None = None,
    ) -> np.ndarray:
        """Returns an annotated copy of ``frame``: boxes plus top action labels and scores.

        Tracked boxes are coloured by track and labelled ``#id action score``.

        Draws every row; pick a keyframe first (``d.at(t).draw(frame)``).

        Args:
            frame: ``uint8 (H, W, 3)`` RGB frame of size ``frame_size``.
            top_k: Actions listed per box.
            threshold: Hides actions below it (default ``self.threshold``).
            thickness: Box line width in pixels (default scales with the frame).
            font_scale: OpenCV font scale (default scales with the frame).
        """
        from cofin_sdk.results import drawing as _drawing

        labels, keys = self.drawing_keys(top_k, threshold)
        return _drawing.draw_detections(
            frame,
            self.boxes,
            labels,
            self.frame_size,
            colors_by=keys,
            thickness=thickness,
            font_scale=font_scale,
        )

    def save_video(
        self,
        path: str | Path,
        video: Any,
        fps: float | None = None,
        *,
        tolerance: float = 0.5,
        top_k: int = 3,
        threshold: float | None = None,
        min_height: int = 0,
        faststart: bool = False,
    ) -> Path:
        """Writes an annotated mp4: each frame shows the detections of the nearest keyframe.

        Args:
            path: Output ``.mp4`` path.
            video: Anything ``cofin_sdk.io.video.iter_frames`` reads (path, file object), or a
                ``uint8 (T, H, W, 3)`` array / iterable of RGB frames (then ``fps`` is required).
            fps: Frame rate of ``video``; read from the file when omitted.
            tolerance: A frame shows the keyframe nearest to its time if within this many seconds.
            top_k: Actions listed per box.
            threshold: Hides actions below it (default ``self.threshold``).
            min_height: Upscale smaller frames by an integer factor to at least this height
                so labels stay readable (0: keep the video's size).
            faststart: Put the mp4 index first (``movflags=+faststart``) so browsers play
                it while downloading (see :func:`cofin_sdk.io.video.write_video`).

        Returns:
            The written path.
        """
        from cofin_sdk.results import drawing as _drawing

        return _drawing.save_annotated_video(
            self,
            Path(path),
            video,
            fps,
            tolerance=tolerance,
            top_k=top_k,
            threshold=threshold,
            min_height=min_height,
            faststart=faststart,
        )
