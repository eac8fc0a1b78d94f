"""THE AVA file format: one reader and one writer for every AVA CSV cofin touches.

numpy + pyarrow only (no torch, no pandas), so the evaluator, training and the SDK read
the same files by the same rules and ``cofin eval-ava`` starts fast.

Files (no header; ``../shared/AVA_PROTOCOL.md``):

* ground truth ``video_id, timestamp, x1, y1, x2, y2, action_id[, person_id]``; the 2020
  files add keyframe-only rows ``video_id, timestamp`` ("markers");
* detections ``video_id, timestamp, x1, y1, x2, y2, action_id, score``;
* person boxes (a person detector's output, PySlowFast layout): the same 8 columns, the
  action column possibly empty, column 8 the detector score;
* exclusions ``video_id, timestamp``; label maps (``.pbtxt``, 2018 and 2019 forms).

Row rules, the same in every reader (a malformed row raises ``ValueError`` with the text
``"<file>:<1-based line>: <reason>"`` for the first bad row):

* the column count of the layout; blank lines (also lines of empty cells) are skipped;
* a non-empty video id; a finite timestamp >= 0;
* the box rule of :mod:`cofin_sdk.formats.boxes` for normalised boxes: finite, ``x1 <= x2``,
  ``y1 <= y2``, every coordinate in ``[-TOLERANCE, 1 + TOLERANCE]``. Training and SDK
  readers clip the tolerated overshoot; :func:`read_ava_csv` (the evaluator) does not,
  like the official tool, so its numbers stay identical;
* an action id that is an integer >= 1 (and <= ``max_class_id`` when given; empty
  allowed in person-box files);
* column 8: ground truth: an integer person id (may be empty or absent); detections: a
  finite score; person boxes: a score in [0, 1] (a ground-truth file has person ids
  there).

Numbers are parsed by ``pyarrow.csv``'s streaming reader with explicit column types; each
batch is validated while it is in cache. pyarrow's float parser is correctly rounded,
i.e. bit-identical to Python's ``float()`` (checked on ``%.6f``, 3-decimal and 17-digit
``repr`` values). When that fast path fails or finds a broken rule, the file is re-read
line by line with :mod:`csv` and ``float()`` (the reference reader), which names the
first bad line. Text ``float()`` takes but pyarrow does not (``1_000``, non-ASCII
digits) is not a number in either.

Example:
    >>> import io
    >>> buffer = io.StringIO()
    >>> write_ava_csv(buffer, "vid", [902], [[0.1, 0.2, 0.5, 0.9]], [12], [[0.75]])
    1
    >>> buffer.getvalue()
    'vid,902,0.100000,0.200000,0.500000,0.900000,12,0.750000\\n'
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._ava_csv import (
    DETECTIONS,
    GROUNDTRUTH,
    PERSON_BOXES,
    PathLike,
    _buffer,
    _first_problem,
    _number,
    _read_table,
    _Table,
)
from .boxes import clip_boxes, validate_boxes

logger = logging.getLogger(__name__)

__all__ = [
    "AVA_TIME_OFFSET",
    "TIME_SCALE",
    "AvaRows",
    "format_timestamp",
    "keyframe_micros",
    "read_ava_csv",
    "read_exclusions",
    "read_label_map",
    "read_person_boxes_csv",
    "timestamp_key",
    "write_ava_csv",
]

#: AVA movie second of the first frame of the 15-minute cuts (keyframes 902...1798):
#: CSV timestamp = seconds into the cut + AVA_TIME_OFFSET.
AVA_TIME_OFFSET = 900.0

#: Keyframes are identified by ``(video_id, round(timestamp * TIME_SCALE))``:
#: microseconds, the finest resolution of the 2020 files (``%.6f``).
TIME_SCALE = 1_000_000


# --------------------------------------------------------------------------- timestamps


def keyframe_micros(timestamps: Any) -> np.ndarray:
    """``int64[N]`` keyframe identity of timestamps in seconds: integer microseconds."""
    return np.rint(np.asarray(timestamps, dtype=np.float64) * TIME_SCALE).astype(np.int64)


def timestamp_key(seconds: float) -> int | float:
    """The timestamp of a ``(video_id, timestamp)`` dict key: rounded to microseconds,
    an ``int`` when integral, so ``"0902"``, ``"902"`` and ``"902.000000"`` are one key."""
    rounded = round(float(seconds), 6)
    return int(rounded) if rounded.is_integer() else rounded


def format_timestamp(seconds: float) -> str:
    """THE timestamp text: integer seconds when integral (``"902"``), else 6 decimals
    (``"902.500000"``, the 2020 form); rounded to microseconds first.

    Raises:
        ValueError: If ``seconds`` is not a finite number >= 0.
    """
    value = float(seconds)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"timestamp must be a finite number >= 0, got {seconds!r}")
    key = timestamp_key(value)
    return str(key) if isinstance(key, int) else f"{key:.6f}"


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class AvaRows:
    """Rows of an AVA ground-truth or detections CSV as numpy arrays (the evaluator's input).

    Attributes:
        video_names: ``object[V]`` distinct video ids; ``video_codes`` index into it.
        video_codes: ``int64[N]`` video of each row.
        timestamps: ``float64[N]`` keyframe time in seconds.
        boxes: ``float64[N, 4]`` normalised ``x1, y1, x2, y2``, NOT clipped.
        labels: ``int64[N]`` action ids (label-map ids, starting at 1).
        scores: ``float64[N]`` detection score; for ground truth the 8th column (the
            person id, which the official tool reads into the same slot) or 1.0.
        markers: ``bool[N]`` rows that only name a keyframe (2020 "no action" rows);
            their box (zeros), label (1) and score (1.0) are meaningless. Read from a
            file they come after the other rows (their order carries no meaning).
        person_ids: ``int64[N]`` ground-truth person id (column 8), -1 where absent and
            for detections.

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
    person_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.video_codes)
        if len(self.markers) != n:
            object.__setattr__(self, "markers", np.zeros(n, dtype=bool))
        if len(self.person_ids) != n:
            object.__setattr__(self, "person_ids", np.full(n, -1, dtype=np.int64))
        for name in ("timestamps", "labels", "scores", "markers", "person_ids"):
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
            The rows (not clipped).

        Raises:
            ValueError: If shapes disagree or a row breaks a rule of :func:`read_ava_csv`.
        """
        names, codes = np.unique(np.asarray(video_ids, dtype=str), return_inverse=True)
        n = codes.size
        columns = {
            "timestamps": np.asarray(timestamps, dtype=np.float64).reshape(-1),
            "labels": np.asarray(labels, dtype=np.float64).reshape(-1),
            "scores": np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(-1),
        }
        box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        lengths = {name: len(value) for name, value in columns.items()} | {"boxes": len(box_array)}
        if any(length != n for length in lengths.values()):
            raise ValueError(f"{source}: {n} video ids but lengths {lengths}")
        table = _Table(
            names=names.astype(object),
            codes=codes.astype(np.int64).reshape(-1),
            timestamps=columns["timestamps"],
            boxes=box_array,
            actions=columns["labels"],
            last=columns["scores"],
            markers=np.zeros(n, dtype=bool),
        )
        problem = _first_problem(table, DETECTIONS, max_class_id)
        if problem is not None:
            raise ValueError(f"{source}: row {problem[0] + 1}: {problem[1]}")
        return _to_rows(table, person_ids=False)

    def keyframe_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(video id of each row, keyframe_micros(timestamps))``."""
        return self.video_names[self.video_codes], keyframe_micros(self.timestamps)


# --------------------------------------------------------------------------- rows from the engine


def _to_rows(table: _Table, person_ids: bool) -> AvaRows:
    """The evaluator's view: labels int, missing column 8 -> score 1.0."""
    markers, last_empty = table.markers, table.empty("last") | table.markers
    labels = table.actions.astype(np.int64)
    blank = markers | table.empty("action")
    if blank.any():
        labels[blank] = 1
    scores = np.where(last_empty, 1.0, table.last) if last_empty.any() else table.last
    ids = np.where(last_empty, -1.0, table.last).astype(np.int64) if person_ids else None
    return AvaRows(
        table.names, table.codes, table.timestamps, table.boxes, labels, scores, markers,
        ids if ids is not None else np.zeros(0, np.int64),
    )  # fmt: skip


# --------------------------------------------------------------------------- public readers


def read_ava_csv(
    path: PathLike,
    *,
    kind: str = "detections",
    allow_markers: bool = False,
    max_class_id: int | None = None,
    exact_floats: bool = False,
) -> AvaRows:
    """Reads an AVA ground-truth or detections CSV (no header) for the evaluator.

    Layout: ``video_id, timestamp, x1, y1, x2, y2, action_id, score_or_person_id``.
    Ground truth may omit (or leave empty) the 8th column; detections must have it. With
    ``allow_markers`` (2020 files) a row of just ``video_id, timestamp`` marks a keyframe.
    Boxes are validated by THE rule but not clipped (the official tool does not clip).

    Args:
        path: The CSV file.
        kind: ``"groundtruth"`` or ``"detections"``.
        allow_markers: Accept 2-column keyframe rows.
        max_class_id: Largest valid action id; ``None`` accepts any id >= 1.
        exact_floats: Parse with the line-by-line reference reader (Python's ``float()``
            itself). Slower; the default parser gives the same bits (see module docs).

    Returns:
        The rows in file order, keyframe-only rows last.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"<path>:<line>: <reason>"`` for the first malformed row (wrong
            column count, non-numeric/NaN/inf value, bad box, bad action id, ...).
    """
    layouts = {"groundtruth": GROUNDTRUTH, "detections": DETECTIONS}
    if kind not in layouts:
        raise ValueError(f"kind must be 'groundtruth' or 'detections', got {kind!r}")
    layout = layouts[kind].with_markers(allow_markers)
    table = _read_table(path, layout, kind, max_class_id, exact_floats)
    return _to_rows(table, person_ids=kind == "groundtruth")


def read_person_boxes_csv(
    path: PathLike, min_score: float = 0.0, video_id: str | None = None
) -> dict[tuple[str, int | float], tuple[np.ndarray, np.ndarray]]:
    """Reads a person-detector CSV: ``video_id, timestamp, x1, y1, x2, y2, [action], score``.

    The action column (an id, or empty as in PySlowFast's files) is ignored after
    validation. Boxes are clipped to [0, 1]; a box repeated on several rows of a keyframe
    (one per action) is kept once, with its highest score; zero-area boxes (valid input)
    are dropped, they hold no person. Every row of the file is validated, also those of
    other videos.

    Args:
        path: The CSV file (no header).
        min_score: Keep boxes whose (highest) score is ``>= min_score``.
        video_id: Only this video's keyframes (``None``: all videos).

    Returns:
        ``{(video_id, timestamp): (boxes float32[N, 4], scores float32[N])}`` with
        normalised clipped ``x1, y1, x2, y2`` boxes in order of first appearance and
        their scores; ``timestamp`` is :func:`timestamp_key` (int when integral). Every
        keyframe with at least one row is present (in order of first appearance), with
        ``N == 0`` when no box passes ``min_score``. Empty dict: no rows (for that video).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"<path>:<line>: <reason>"`` for the first malformed row.
    """
    table = _read_table(path, PERSON_BOXES, "person-box", None, False)
    keep = np.ones(len(table.codes), bool)
    if video_id is not None:
        matches = np.flatnonzero(table.names == video_id)
        keep = table.codes == (matches[0] if matches.size else -1)
    boxes = clip_boxes(table.boxes[keep], normalized=True) + 0.0  # + 0.0: no -0.0
    codes, scores = table.codes[keep], table.last[keep]
    micros = keyframe_micros(table.timestamps[keep])
    frames, frame_first = _first_appearance_ids(np.stack([codes, micros], axis=1))
    keys = [
        (str(table.names[codes[row]]), timestamp_key(micros[row] / TIME_SCALE))
        for row in frame_first
    ]
    usable = np.flatnonzero((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    # One group per (keyframe, box), numbered by first appearance; the best score wins.
    groups, group_first = _first_appearance_ids(
        np.concatenate([frames[usable, None].astype(np.float64), boxes[usable]], axis=1)
    )
    best = np.full(len(group_first), -np.inf)
    np.maximum.at(best, groups, scores[usable])
    kept = np.flatnonzero(best >= min_score)  # ascending = first-appearance order
    kept = kept[np.argsort(frames[usable[group_first[kept]]], kind="stable")]
    kept_frames = frames[usable[group_first[kept]]]
    starts = np.searchsorted(kept_frames, np.arange(len(keys) + 1))
    kept_boxes = boxes[usable[group_first[kept]]].astype(np.float32)
    kept_scores = best[kept].astype(np.float32)
    return {
        key: (kept_boxes[starts[i] : starts[i + 1]], kept_scores[starts[i] : starts[i + 1]])
        for i, key in enumerate(keys)
    }


def _first_appearance_ids(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each row of ``keys [N, K]`` numbered by first appearance, and the
    first row of each group (hashing the rows' bytes with pyarrow: no sort)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = np.ascontiguousarray(keys)
    width = keys.shape[1] * keys.itemsize
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(keys), [None, pa.py_buffer(keys)]
    )
    ids = _buffer(pc.dictionary_encode(array).indices, np.int64)
    new = np.r_[True, ids[1:] > np.maximum.accumulate(ids)[:-1]]  # a group's first row
    return ids, np.flatnonzero(new)


def read_exclusions(path: PathLike) -> list[tuple[str, float]]:
    """Reads an exclusions CSV of ``video_id, timestamp`` rows.

    Args:
        path: The CSV file.

    Returns:
        The excluded keyframes as ``(video_id, seconds)`` pairs, in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: ``"<path>:<line>: <reason>"`` for a row that is not
            ``video_id, timestamp`` with a finite timestamp >= 0.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AVA exclusions CSV not found: {path}")
    keys: list[tuple[str, float]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for line_number, fields in enumerate(csv.reader(handle), start=1):
            if not fields or not "".join(fields).strip():
                continue
            reason = _exclusion_reason(fields)
            if reason:
                raise ValueError(f"{path}:{line_number}: {reason}")
            keys.append((fields[0], _number(fields[1])))
    return keys


def _exclusion_reason(fields: list[str]) -> str | None:
    if len(fields) != 2:
        return f"expected 2 columns (video_id,timestamp), got {len(fields)}"
    if not fields[0].strip():
        return "empty video id"
    try:
        value = _number(fields[1])
    except ValueError:
        return f"column 2 is not a number: {fields[1]!r} (timestamp)"
    return None if math.isfinite(value) and value >= 0 else "timestamp must be a finite number >= 0"


# --------------------------------------------------------------------------- label maps

_BLOCK_RE = re.compile(r"\b(item|label)\s*\{([^{}]*)\}", re.S)
_NAME_RE = re.compile(r"\bname\s*:\s*\"([^\"]*)\"")
_ID_RE = re.compile(r"\b(?:label_)?id\s*:\s*(-?\d+)")


def read_label_map(path: PathLike) -> tuple[dict[int, str], list[int]]:
    """Reads an AVA label map in the 2018 (``item{name id}``) or 2019 (``label{...}``) form.

    Args:
        path: The ``.pbtxt`` file.

    Returns:
        ``(names, class_ids)``: id -> class name, and the sorted list of ids.

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
            raise ValueError(f"{path}:{line}: {match.group(1)} block has no {missing}")
        cid = int(class_id.group(1))
        if cid < 1:
            raise ValueError(f"{path}:{line}: class id {cid} must be >= 1")
        if cid in names:
            raise ValueError(f"{path}:{line}: class id {cid} appears twice")
        names[cid] = name.group(1)
    if not names:
        raise ValueError(f"{path}: no 'item {{...}}' or 'label {{...}}' blocks found")
    return names, sorted(names)


# --------------------------------------------------------------------------- writer


def write_ava_csv(
    path_or_buffer: PathLike | IO[str],
    video_ids: str | Sequence[str],
    timestamps: Sequence[float] | np.ndarray,
    boxes_norm: Any,
    class_ids: Sequence[int],
    scores: Any,
    *,
    min_score: float | None = None,
) -> int:
    """Writes the AVA detections/submission CSV: one row per (box, class), box order.

    Row: ``video_id,timestamp,x1,y1,x2,y2,action_id,score``; timestamps by
    :func:`format_timestamp`, boxes clipped to [0, 1] and scores, both with 6 decimals.
    What it writes, :func:`read_ava_csv` reads back.

    Args:
        path_or_buffer: File path (overwritten) or an open text buffer.
        video_ids: ``[N]`` video id of each box, or one id for all.
        timestamps: ``[N]`` keyframe seconds of each box (finite, >= 0).
        boxes_norm: ``[N, 4]`` normalised ``x1, y1, x2, y2`` (THE box rule; the tolerated
            overshoot is clipped).
        class_ids: ``[C]`` action ids (integers >= 1) of the score columns.
        scores: ``[N, C]`` finite scores.
        min_score: Omit rows scoring below this (``None`` writes every row).

    Returns:
        The number of rows written.

    Raises:
        ValueError: Shapes disagree, a video id is empty or holds ``,``/quotes/newlines,
            or a timestamp, box, class id or score breaks the rules above.
    """
    boxes = validate_boxes(boxes_norm, normalized=True, what="boxes_norm")  # clipped
    n = len(boxes)
    ids = [video_ids] * n if isinstance(video_ids, str) else [str(v) for v in video_ids]
    score_array = np.asarray(scores, dtype=np.float64).reshape(n, -1) if n else np.zeros((0, 0))
    classes = [int(c) for c in class_ids]
    stamps = [format_timestamp(t) for t in np.asarray(timestamps, dtype=np.float64).reshape(-1)]
    _check_writer_input(ids, stamps, n, classes, class_ids, score_array)
    class_texts = [f"{c}," for c in classes]
    count = 0
    with _open_text(path_or_buffer) as handle:
        for video, stamp, box, row in zip(ids, stamps, boxes.tolist(), score_array.tolist()):
            prefix = f"{video},{stamp},{box[0]:.6f},{box[1]:.6f},{box[2]:.6f},{box[3]:.6f},"
            lines = [
                f"{prefix}{c}{s:.6f}\n"
                for c, s in zip(class_texts, row)
                if min_score is None or s >= min_score
            ]
            handle.write("".join(lines))
            count += len(lines)
    return count


def _check_writer_input(ids, stamps, n, classes, class_ids, score_array) -> None:  # noqa: ANN001
    if len(ids) != n or len(stamps) != n:
        raise ValueError(f"got {n} boxes but {len(ids)} video ids and {len(stamps)} timestamps")
    if n and score_array.shape != (n, len(classes)):
        raise ValueError(f"scores must have shape ({n}, {len(classes)}), got {score_array.shape}")
    bad = next((v for v in set(ids) if not v.strip() or any(c in v for c in ',"\r\n')), None)
    if bad is not None:
        raise ValueError(f"video id must be non-empty without commas, quotes or newlines: {bad!r}")
    if any(c < 1 or c != v for c, v in zip(classes, class_ids)):
        raise ValueError(f"class ids must be integers >= 1, got {list(class_ids)}")
    if not np.isfinite(score_array).all():
        raise ValueError("scores must be finite numbers (no NaN or inf)")


class _open_text:
    """Context manager: a path opened for writing, or a caller's buffer left open."""

    def __init__(self, target: PathLike | IO[str]) -> None:
        self.target = target
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if isinstance(self.target, (str, os.PathLike)):
            self.handle = open(self.target, "w", encoding="utf-8", newline="")
            return self.handle
        return self.target  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()
