"""Per-person action timelines: who did what, from when to when.

:class:`ActionTimeline` holds segments ``(track_id, action, start_s, end_s, peak_score,
mean_score)``. They come from per-keyframe action scores of tracked people by ONE rule,
:func:`segment_scores`, used for files, folders, streams and the demo alike:

1. **Hysteresis.** For one track and one action, a segment opens at a keyframe whose
   score is ``>= threshold`` (on) and stays open while the following keyframes score
   ``>= off_threshold`` (off, ``<= threshold``); the first keyframe below ``off_threshold``,
   or a keyframe where the track is absent, closes it. A flicker around one threshold
   therefore does not chop an action into pieces.
2. **Time covered.** Each keyframe stands for one keyframe period ``p`` centred on it, so a
   run of keyframes ``t_first .. t_last`` covers ``[t_first - p/2, t_last + p/2]`` (clipped
   at 0): one keyframe is ``p`` seconds long, not zero.
3. **Gap filling.** Two segments of the same track and action separated by at most
   ``max_gap_s`` seconds (next start - previous end) become one.
4. **Minimum duration.** Segments shorter than ``min_duration_s`` (after gap filling) are
   dropped.

``peak_score`` and ``mean_score`` are the maximum and mean over the keyframes that opened
or kept the segment open (keyframes inside a filled gap do not count).
Nothing here needs torch or pandas (``to_pandas`` imports pandas when called).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ._common import load_json, save_json, write_text

__all__ = [
    "SCHEMA_VERSION",
    "ActionTimeline",
    "Segment",
    "TimelineRule",
    "check_rule",
    "check_schema_version",
    "segment_scores",
]

#: Version of the JSON layout of detections + tracks + timeline (docs/results_schema.json).
SCHEMA_VERSION = 1


class Segment(NamedTuple):
    """One timeline segment (a row of :class:`ActionTimeline`)."""

    track_id: int
    action: str
    start_s: float
    end_s: float
    peak_score: float
    mean_score: float


@dataclass(frozen=True)
class TimelineRule:
    """The parameters of the timeline rule (module docstring), validated.

    Args:
        threshold: On threshold in [0, 1]: a segment opens at a keyframe scoring at least this.
        off_threshold: Off threshold in [0, ``threshold``]; default ``threshold`` (no hysteresis).
        max_gap_s: Segments of one track and action at most this many seconds apart merge.
        min_duration_s: Shorter segments (after merging) are dropped.
        period_s: Keyframe period in seconds (each keyframe covers one period).

    Raises:
        ValueError: One line naming the argument, for any value out of range.
    """

    threshold: float = 0.5
    off_threshold: float | None = None
    max_gap_s: float = 0.0
    min_duration_s: float = 0.0
    period_s: float = 1.0

    def __post_init__(self) -> None:
        if self.off_threshold is None:
            object.__setattr__(self, "off_threshold", self.threshold)
        check_rule({name: getattr(self, name) for name in _API_NAMES}, _API_NAMES)

    def to_dict(self) -> dict[str, float]:
        return {
            "threshold": float(self.threshold),
            "off_threshold": float(self.off_threshold),  # type: ignore[arg-type]
            "max_gap_s": float(self.max_gap_s),
            "min_duration_s": float(self.min_duration_s),
            "period_s": float(self.period_s),
        }


#: How the rule's parameters are spelled in the Python API (the CLI passes its flags).
_API_NAMES = {
    "threshold": "threshold=",
    "off_threshold": "off_threshold=",
    "max_gap_s": "max_gap_s=",
    "min_duration_s": "min_duration_s=",
    "period_s": "period_s=",
}


def check_rule(values: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Checks timeline-rule parameters, naming them as the caller's interface does.

    Args:
        values: ``{parameter: value}`` for any of ``threshold``, ``off_threshold`` (None:
            same as ``threshold``), ``max_gap_s``, ``min_duration_s``, ``period_s``.
        names: ``{parameter: spelling}``, e.g. ``{"max_gap_s": "--max-gap "}``.

    Raises:
        ValueError: One line naming the parameter, its value and the allowed range.
    """
    on = values.get("threshold", 0.0)
    limits = {
        "threshold": (0.0, 1.0),
        "off_threshold": (0.0, on if isinstance(on, (int, float)) and 0 <= on <= 1 else 1.0),
        "max_gap_s": (0.0, math.inf),
        "min_duration_s": (0.0, math.inf),
        "period_s": (0.0, math.inf),
    }
    for key, value in values.items():
        if value is None and key == "off_threshold":
            continue
        low, high = limits[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (
            not ok
            or math.isnan(value)
            or not low <= value <= high
            or (key == "period_s" and value <= 0)
        ):
            upper = "" if math.isinf(high) else f" and <= {high:g}"
            lower = "> 0" if key == "period_s" else f">= {low:g}"
            suffix = " (the on threshold)" if key == "off_threshold" else ""
            raise ValueError(f"{names[key]}{value!r}: must be a number {lower}{upper}{suffix}")


def segment_scores(
    times: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray, rule: TimelineRule
) -> list[tuple[float, float, float, float]]:
    """THE timeline rule for one track and one action (see the module docstring).

    Args:
        times: ``[K]`` keyframe times in seconds where the track is present, increasing.
        scores: ``[K]`` the action's score at those keyframes.
        rule: Thresholds, gap and duration limits, keyframe period.

    Returns:
        ``[(start_s, end_s, peak_score, mean_score), ...]`` in time order.

    Example:
        >>> segment_scores([0, 1, 2, 3, 4], [0.9, 0.45, 0.2, 0.8, 0.1],
        ...                TimelineRule(threshold=0.5, off_threshold=0.4))
        [(0.0, 1.5, 0.9, 0.675), (2.5, 3.5, 0.8, 0.8)]
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(times) != len(scores):
        raise ValueError(f"{len(times)} times but {len(scores)} scores")
    half = rule.period_s / 2
    runs: list[list[int]] = []  # keyframe indices of each hysteresis run
    is_open = False
    for k, score in enumerate(scores):
        # a hole of more than one period (the track was absent) closes a run
        contiguous = is_open and times[k] - times[k - 1] <= 1.5 * rule.period_s
        if contiguous and score >= rule.off_threshold:
            runs[-1].append(k)
        elif score >= rule.threshold:
            runs.append([k])
            is_open = True
        else:
            is_open = False
    merged: list[list[int]] = []
    for run in runs:
        if merged and (times[run[0]] - half) - (times[merged[-1][-1]] + half) <= rule.max_gap_s:
            merged[-1].extend(run)
        else:
            merged.append(list(run))
    segments = []
    for run in merged:
        start, end = max(0.0, times[run[0]] - half), times[run[-1]] + half
        if end - start + 1e-9 >= rule.min_duration_s:
            values = scores[run]
            segments.append((float(start), float(end), float(values.max()), float(values.mean())))
    return segments


@dataclass(eq=False)
class ActionTimeline:
    """Action segments per tracked person: ``(track_id, action, start_s, end_s, peak, mean)``.

    Build one with ``Detections.timeline(...)`` (tracked detections) or
    :meth:`from_scores`; rows are sorted by track, start time and action.

    Attributes:
        track_ids: ``int64 [S]`` track of each segment.
        actions: ``S`` action names.
        start_s, end_s: ``float64 [S]`` segment bounds in seconds of the video.
        peak_scores, mean_scores: ``float32 [S]`` max and mean keyframe score in the segment.
        video_id: The video's identifier.
        rule: The :class:`TimelineRule` that made the segments.

    Example:
        >>> timeline = ActionTimeline.from_scores(
        ...     track_ids=[1, 1, 1], times=[0.0, 1.0, 2.0],
        ...     scores=[[0.9, 0.1], [0.8, 0.2], [0.1, 0.7]], class_names=("walk", "sit"),
        ...     rule=TimelineRule(threshold=0.5))
        >>> [(s.track_id, s.action, s.start_s, s.end_s) for s in timeline]
        [(1, 'walk', 0.0, 1.5), (1, 'sit', 1.5, 2.5)]
        >>> ActionTimeline.from_json(timeline.to_json()) == timeline
        True
    """

    track_ids: np.ndarray
    actions: tuple[str, ...]
    start_s: np.ndarray
    end_s: np.ndarray
    peak_scores: np.ndarray
    mean_scores: np.ndarray
    video_id: str = ""
    rule: TimelineRule = field(default_factory=TimelineRule)

    def __post_init__(self) -> None:
        self.track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        self.actions = tuple(str(a) for a in self.actions)
        self.start_s = np.asarray(self.start_s, dtype=np.float64).reshape(-1)
        self.end_s = np.asarray(self.end_s, dtype=np.float64).reshape(-1)
        self.peak_scores = np.asarray(self.peak_scores, dtype=np.float32).reshape(-1)
        self.mean_scores = np.asarray(self.mean_scores, dtype=np.float32).reshape(-1)
        lengths = {len(self.track_ids), len(self.actions), len(self.start_s), len(self.end_s)}
        lengths |= {len(self.peak_scores), len(self.mean_scores)}
        if len(lengths) != 1:
            raise ValueError(f"ActionTimeline columns differ in length: {sorted(lengths)}")
        if len(self) and (self.end_s < self.start_s).any():
            raise ValueError("ActionTimeline segments must have end_s >= start_s")

    @classmethod
    def from_scores(
        cls,
        track_ids: Sequence[int] | np.ndarray,
        times: Sequence[float] | np.ndarray,
        scores: Any,
        class_names: Sequence[str],
        rule: TimelineRule,
        video_id: str = "",
    ) -> ActionTimeline:
        """Applies :func:`segment_scores` to every (track, action) of per-box keyframe scores.

        Args:
            track_ids: ``[N]`` track of each box; ``-1`` (untracked) rows are ignored.
            times: ``[N]`` keyframe time of each box.
            scores: ``[N, C]`` action scores.
            class_names: ``C`` action names.
            rule: The timeline rule's parameters.
            video_id: Stored in the result.
        """
        track_ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        scores = np.asarray(scores, dtype=np.float64).reshape(len(track_ids), len(class_names))
        rows: list[tuple[int, str, float, float, float, float]] = []
        for track in np.unique(track_ids[track_ids >= 0]):
            mine = np.flatnonzero(track_ids == track)
            mine = mine[np.argsort(times[mine], kind="stable")]
            for c, action in enumerate(class_names):
                for segment in segment_scores(times[mine], scores[mine, c], rule):
                    rows.append((int(track), action, *segment))
        rows.sort(key=lambda r: (r[0], r[2], r[1]))
        return cls._from_rows(rows, video_id, rule)

    @classmethod
    def _from_rows(cls, rows: list[tuple], video_id: str, rule: TimelineRule) -> ActionTimeline:
        columns = list(zip(*rows)) if rows else [[]] * 6
        return cls(*columns, video_id=video_id, rule=rule)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ protocol
    def __len__(self) -> int:
        return len(self.track_ids)

    def __iter__(self) -> Iterator[Segment]:
        """Yields one named row per segment."""
        for i in range(len(self)):
            yield Segment(
                int(self.track_ids[i]),
                self.actions[i],
                float(self.start_s[i]),
                float(self.end_s[i]),
                float(self.peak_scores[i]),
                float(self.mean_scores[i]),
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActionTimeline):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        tracks = len(np.unique(self.track_ids))
        return f"ActionTimeline(segments={len(self)}, tracks={tracks}, video_id={self.video_id!r})"

    # ------------------------------------------------------------------ exports
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with ``schema_version``; inverse of :meth:`from_dict`."""
        return {
            "schema_version": SCHEMA_VERSION,
            "video_id": self.video_id,
            "rule": self.rule.to_dict(),
            "segments": [s._asdict() for s in self],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionTimeline:
        """Rebuilds a timeline from :meth:`to_dict` output.

        Also reads the ``timeline`` of a detections document (``Detections.to_json(timeline=...)``).

        Raises:
            ValueError: An unknown ``schema_version``, a malformed segment, or a detections
                document without a timeline.
        """
        if "format" in data:  # a detections document carrying the timeline
            if data.get("timeline") is None:
                raise ValueError(
                    "this detections JSON has no timeline (write it with timeline=...)"
                )
            data = data["timeline"]
        check_schema_version(data, "timeline")
        rule = TimelineRule(**data["rule"])
        rows = [tuple(s[name] for name in Segment._fields) for s in data["segments"]]
        return cls._from_rows(rows, data.get("video_id", ""), rule)

    def to_json(self, path: str | Path | None = None, indent: int | None = None) -> str:
        """Serialises to JSON; writes ``path`` if given."""
        return save_json(self.to_dict(), path, indent)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> ActionTimeline:
        """Parses :meth:`to_json` output (the JSON text or a file path)."""
        return cls.from_dict(load_json(text_or_path))

    def to_csv(self, path_or_buffer: str | Path | IO[str] | None = None) -> str:
        """CSV with a header: ``video_id, track_id, action, start_s, end_s, peak_score, mean_score``."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("video_id", *Segment._fields))
        for s in self:
            writer.writerow(
                (self.video_id, s.track_id, s.action, f"{s.start_s:.3f}", f"{s.end_s:.3f}",
                 f"{s.peak_score:.6f}", f"{s.mean_score:.6f}")
            )  # fmt: skip
        return write_text(buffer.getvalue(), path_or_buffer)

    def to_pandas(self) -> Any:
        """One row per segment, the CSV's columns.

        Raises:
            ImportError: If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                'to_pandas() needs pandas: pip install "cofin-sdk[train]" (or pip install pandas)'
            ) from err
        frame = pd.DataFrame([s._asdict() for s in self], columns=list(Segment._fields))
        frame.insert(0, "video_id", self.video_id)
        return frame


def check_schema_version(data: dict[str, Any], what: str) -> None:
    """Raises ``ValueError`` unless ``data['schema_version']`` is one this cofin reads."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"cannot read this {what} JSON: schema_version={version!r}, this cofin reads "
            f"{SCHEMA_VERSION} (upgrade cofin-sdk for newer files)"
        )
