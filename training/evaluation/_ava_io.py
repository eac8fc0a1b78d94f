"""Readers for the AVA evaluation files: label maps, box CSVs and exclusion lists.

Every reader validates its input and raises ``ValueError`` naming the file, the
1-based line number and what was wrong. CSVs are parsed with pandas (explicit dtypes);
only when that fast path detects a problem is the file re-scanned line by line to locate
the first bad row.

Float parsing: pandas' default ("high") converter gives exactly Python's ``float()``
(what the official tool uses) for numbers written with up to 12 significant digits,
such as ``%.6f`` scores and the 3-decimal AVA boxes, but can be ~1e-16 off for longer
ones (17-digit ``repr`` output). ``exact_floats=True`` switches to the round-trip
converter: bit-identical for any input, slower. Such a difference can only change a
result for an IoU within ~1e-16 of the threshold or for scores closer than ~1e-16.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["AvaRows", "read_label_map", "read_ava_csv", "read_exclusions"]

# Microseconds: the finest timestamp resolution of the 2020 files (``%.6f``).
_TIME_SCALE = 1_000_000


@dataclass(frozen=True)
class AvaRows:
    """Rows of an AVA box CSV (ground truth or detections) as numpy arrays.

    Attributes:
        video_names: The distinct video ids, ``video_codes`` index into it.
        video_codes: ``int64[N]`` video of each row.
        timestamps: ``float64[N]`` keyframe time in seconds.
        boxes: ``float64[N, 4]`` normalised ``x1, y1, x2, y2``.
        labels: ``int64[N]`` action ids (label-map ids, starting at 1).
        scores: ``float64[N]`` detection score; for ground truth the 8th column (the
            person id, which the official tool reads into the same slot) or 1.0.
        markers: ``bool[N]`` rows that only name a keyframe (2020 "no action" rows);
            their box, label and score are meaningless.

    Example:
        >>> rows = AvaRows.from_arrays(["v1"], [902], [[0.1, 0.1, 0.5, 0.9]], [12], [0.8])
        >>> len(rows)
        1
    """

    video_names: np.ndarray
    video_codes: np.ndarray
    timestamps: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    markers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        n = len(self.video_codes)
        if len(self.markers) != n:
            object.__setattr__(self, "markers", np.zeros(n, dtype=bool))
        for name in ("timestamps", "labels", "scores", "markers"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"AvaRows.{name} has {len(getattr(self, name))} rows, expected {n}"
                )
        if self.boxes.shape != (n, 4):
            raise ValueError(f"AvaRows.boxes must have shape ({n}, 4), got {self.boxes.shape}")

    def __len__(self) -> int:
        return len(self.video_codes)

    @classmethod
    def from_arrays(
        cls,
        video_ids: Sequence[str] | np.ndarray,
        timestamps: Sequence[float] | np.ndarray,
        boxes: Sequence[Sequence[float]] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        scores: Sequence[float] | np.ndarray | None = None,
        *,
        max_class_id: int | None = None,
        source: str = "<arrays>",
    ) -> AvaRows:
        """Builds validated rows from in-memory arrays (row ``i`` is reported as line ``i+1``).

        Args:
            video_ids: ``[N]`` video id strings.
            timestamps: ``[N]`` keyframe seconds.
            boxes: ``[N, 4]`` normalised ``x1, y1, x2, y2``.
            labels: ``[N]`` action ids.
            scores: ``[N]`` scores; ``None`` means 1.0 (ground truth).
            max_class_id: Largest valid action id; ``None`` accepts any id >= 1.
            source: Name used in error messages.

        Returns:
            The rows.

        Raises:
            ValueError: If shapes disagree or a row breaks a rule of :func:`read_ava_csv`.
        """
        names, codes = np.unique(np.asarray(video_ids, dtype=str), return_inverse=True)
        n = len(codes)
        box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        score_array = np.ones(n) if scores is None else np.asarray(scores, dtype=np.float64)
        label_array = np.asarray(labels, dtype=np.float64)
        rows = cls(
            video_names=names.astype(object),
            video_codes=codes.astype(np.int64),
            timestamps=np.asarray(timestamps, dtype=np.float64),
            boxes=box_array,
            labels=np.zeros(n, dtype=np.int64),
            scores=score_array,
        )
        bad = _first_invalid_row(
            rows.timestamps, rows.boxes, label_array, score_array, max_class_id
        )
        if bad is not None:
            raise ValueError(f"{source}: row {bad[0] + 1}: {bad[1]}")
        return _replace_labels(rows, label_array.astype(np.int64))

    def keyframe_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(video_names[video_codes], integer microseconds)`` identifying keyframes."""
        return self.video_names[self.video_codes], np.rint(self.timestamps * _TIME_SCALE).astype(
            np.int64
        )


def _replace_labels(rows: AvaRows, labels: np.ndarray) -> AvaRows:
    return AvaRows(
        rows.video_names,
        rows.video_codes,
        rows.timestamps,
        rows.boxes,
        labels,
        rows.scores,
        rows.markers,
    )


# --------------------------------------------------------------------------- label maps

_BLOCK_RE = re.compile(r"\b(item|label)\s*\{([^{}]*)\}", re.S)
_NAME_RE = re.compile(r"\bname\s*:\s*\"([^\"]*)\"")
_ID_RE = re.compile(r"\b(?:label_)?id\s*:\s*(-?\d+)")


def read_label_map(path: str | Path) -> tuple[dict[int, str], list[int]]:
    """Reads an AVA label map in the 2018 (``item{name id}``) or 2019 (``label{...}``) form.

    Args:
        path: The ``.pbtxt`` file.

    Returns:
        ``(names, class_ids)``: id → class name, and the sorted list of ids.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If a block lacks a name or id, an id repeats or is < 1, or the file
            holds no blocks; the message names the line of the offending block.

    Example:
        >>> names, ids = read_label_map("ava_action_list_v2.2_for_activitynet_2019.pbtxt")  # doctest: +SKIP
    """
    text = Path(path).read_text()
    names: dict[int, str] = {}
    for match in _BLOCK_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        body = match.group(2)
        name, class_id = _NAME_RE.search(body), _ID_RE.search(body)
        if name is None or class_id is None:
            missing = "name" if name is None else "id/label_id"
            raise ValueError(f"{path}: line {line}: {match.group(1)} block has no {missing}")
        cid = int(class_id.group(1))
        if cid < 1:
            raise ValueError(f"{path}: line {line}: class id {cid} must be >= 1")
        if cid in names:
            raise ValueError(f"{path}: line {line}: class id {cid} appears twice")
        names[cid] = name.group(1)
    if not names:
        raise ValueError(f"{path}: no 'item {{...}}' or 'label {{...}}' blocks found")
    return names, sorted(names)


# --------------------------------------------------------------------------- validation


def _first_invalid_row(
    timestamps: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    max_class_id: int | None,
) -> tuple[int, str] | None:
    """Vectorised row rules; returns ``(row_index, reason)`` of the first broken row."""
    x1, y1, x2, y2 = boxes.T
    checks = [
        (~np.isfinite(timestamps) | (timestamps < 0), "timestamp must be a finite number >= 0"),
        (~np.isfinite(boxes).all(axis=1), "box coordinates must be finite numbers"),
        (((boxes < 0) | (boxes > 1)).any(axis=1), "box coordinates must lie in [0, 1]"),
        ((x2 < x1) | (y2 < y1), "box must have x1 <= x2 and y1 <= y2"),
        (
            ~np.isfinite(labels) | (labels != np.round(labels)) | (labels < 1),
            "action id must be an integer >= 1",
        ),
        (~np.isfinite(scores), "score must be a finite number"),
    ]
    if max_class_id is not None:
        checks.append(
            (labels > max_class_id, f"unknown action id (label map ids end at {max_class_id})")
        )
    first: tuple[int, str] | None = None
    for mask, reason in checks:
        hits = np.flatnonzero(mask)
        if hits.size and (first is None or hits[0] < first[0]):
            first = (int(hits[0]), reason)
    return first


def _check_fields(
    fields: list[str], expected: Sequence[int], max_class_id: int | None
) -> str | None:
    """Row rules for one CSV line (the slow path); returns the reason or None."""
    if len(fields) not in expected:
        want = " or ".join(map(str, expected))
        return f"expected {want} columns, got {len(fields)}"
    if not fields[0].strip():
        return "empty video id"
    numbers = []
    for column, text in enumerate(fields[1:], start=2):
        try:
            numbers.append(float(text))
        except ValueError:
            return f"column {column} is not a number: {text!r}"
    if len(fields) == 2:  # keyframe-only row: just the timestamp to check
        return _first_reason(numbers, np.zeros((1, 4)), [1.0], [1.0], max_class_id)
    score = numbers[6] if len(numbers) == 7 else 1.0
    return _first_reason(numbers[:1], np.array([numbers[1:5]]), [numbers[5]], [score], max_class_id)


def _first_reason(ts, box, label, score, max_class_id) -> str | None:  # noqa: ANN001
    bad = _first_invalid_row(
        np.asarray(ts, float),
        np.asarray(box, float),
        np.asarray(label, float),
        np.asarray(score, float),
        max_class_id,
    )
    return None if bad is None else bad[1]


def _locate_error(path: Path, expected: Sequence[int], max_class_id: int | None) -> ValueError:
    """Scans ``path`` line by line and builds the error for its first bad row."""
    with open(path, newline="") as handle:
        for line_number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            reason = _check_fields(fields, expected, max_class_id)
            if reason is not None:
                return ValueError(f"{path}: line {line_number}: {reason}")
    return ValueError(f"{path}: could not be parsed as an AVA CSV (no single bad line found)")


# --------------------------------------------------------------------------- CSV readers


def read_ava_csv(
    path: str | Path,
    *,
    kind: str = "detections",
    allow_markers: bool = False,
    max_class_id: int | None = None,
    exact_floats: bool = False,
) -> AvaRows:
    """Reads an AVA ground-truth or detections CSV (no header).

    Layout: ``video_id, timestamp, x1, y1, x2, y2, action_id, score_or_person_id``.
    Ground truth may omit the 8th column; detections must have it. With
    ``allow_markers`` (2020 files) a row of just ``video_id, timestamp`` marks a keyframe.

    Args:
        path: The CSV file.
        kind: ``"groundtruth"`` or ``"detections"``.
        allow_markers: Accept 2-column keyframe rows.
        max_class_id: Largest valid action id; ``None`` accepts any id >= 1.
        exact_floats: Parse floats exactly like Python's ``float()`` whatever their
            length (slower; see the module docstring).

    Returns:
        The validated rows in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: Naming file, line and reason for the first malformed row (wrong column
            count, non-numeric or NaN value, box outside [0, 1] or inverted, bad action id).
    """
    import pandas as pd  # heavy import, the `train` extra

    path = Path(path)
    if kind not in ("groundtruth", "detections"):
        raise ValueError(f"kind must be 'groundtruth' or 'detections', got {kind!r}")
    if not path.is_file():
        raise FileNotFoundError(f"AVA {kind} CSV not found: {path}")
    expected = ([7, 8] if kind == "groundtruth" else [8]) + ([2] if allow_markers else [])
    try:
        frame = pd.read_csv(
            path,
            header=None,
            names=list(range(9)),  # a 9th column is read so that it can be rejected
            index_col=False,
            dtype={0: "category", **{i: "float64" for i in range(1, 9)}},
            keep_default_na=False,
            na_values=[""],
            float_precision="round_trip" if exact_floats else "high",
        )
    except (ValueError, pd.errors.ParserError):
        raise _locate_error(path, expected, max_class_id) from None
    rows = _rows_from_frame(frame, expected)
    if rows is None:
        raise _locate_error(path, expected, max_class_id)
    bad = _first_invalid_row(
        rows.timestamps, rows.boxes, rows.labels.astype(float), rows.scores, max_class_id
    )
    if bad is not None:
        raise _locate_error(path, expected, max_class_id)
    logger.debug("read %d rows from %s", len(rows), path)
    return rows


def _rows_from_frame(frame, expected: Sequence[int]) -> AvaRows | None:  # noqa: ANN001
    """Converts the parsed frame; returns None when some row has the wrong shape."""
    ts, x1, y1, x2, y2, label, score, extra = (frame[i].to_numpy() for i in range(1, 9))
    if not np.isnan(extra).all() or frame[0].isna().any() or np.isnan(ts).any():
        return None
    markers = np.isnan(x1) & np.isnan(y1) & np.isnan(x2) & np.isnan(y2) & np.isnan(label)
    has_markers = bool(markers.any())
    if has_markers and 2 not in expected:
        return None
    full = ~markers
    if np.isnan((x1 + y1 + x2 + y2 + label)[full]).any():  # a short row that is not a marker
        return None
    has_score = ~np.isnan(score)
    if (7 not in expected and not has_score[full].all()) or has_score[markers].any():
        return None
    boxes = np.stack([x1, y1, x2, y2], axis=1)  # (N, 4)
    labels = np.where(markers, 1.0, label) if has_markers else label
    if not (labels == np.round(labels)).all():
        return None
    if has_markers:
        boxes[markers] = 0.0
    return AvaRows(
        video_names=np.asarray(frame[0].cat.categories, dtype=object),
        video_codes=frame[0].cat.codes.to_numpy().astype(np.int64),
        timestamps=ts,
        boxes=boxes,
        labels=labels.astype(np.int64),
        scores=score if has_score.all() else np.where(has_score, score, 1.0),
        markers=markers,
    )


def read_exclusions(path: str | Path) -> list[tuple[str, float]]:
    """Reads an exclusions CSV of ``video_id, timestamp`` rows.

    Args:
        path: The CSV file.

    Returns:
        The excluded keyframes as ``(video_id, seconds)`` pairs.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: Naming file and line of a row that is not ``video_id, number``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AVA exclusions CSV not found: {path}")
    keys: list[tuple[str, float]] = []
    with open(path, newline="") as handle:
        for line_number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            reason = _exclusion_reason(fields)
            if reason:
                raise ValueError(f"{path}: line {line_number}: {reason}")
            keys.append((fields[0], float(fields[1])))
    return keys


def _exclusion_reason(fields: list[str]) -> str | None:
    if len(fields) != 2:
        return f"expected 2 columns (video_id, timestamp), got {len(fields)}"
    try:
        value = float(fields[1])
    except ValueError:
        return f"timestamp is not a number: {fields[1]!r}"
    return None if math.isfinite(value) and value >= 0 else "timestamp must be a finite number >= 0"
