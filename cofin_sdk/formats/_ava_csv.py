"""The AVA CSV parsing engine behind :mod:`cofin_sdk.formats.ava` (private).

Column layouts, THE row rules (boxes by :mod:`cofin_sdk.formats.boxes`), the fast pyarrow reader
and the line-by-line reference reader that names the first bad line. The public readers
in :mod:`cofin_sdk.formats.ava` build on :func:`_read_table`.
"""

from __future__ import annotations

import array
import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .boxes import box_problems

logger = logging.getLogger("cofin_sdk.formats.ava")

PathLike = str | os.PathLike[str]

__all__ = [
    "DETECTIONS",
    "GROUNDTRUTH",
    "PERSON_BOXES",
    "PathLike",
    "_Table",
    "_buffer",
    "_first_problem",
    "_number",
    "_read_table",
]


# --------------------------------------------------------------------------- layouts & rules


@dataclass(frozen=True)
class _Layout:
    """What one kind of AVA box CSV holds."""

    name: str
    columns: tuple[int, ...]  # allowed column counts, 2 = keyframe-only row
    empty_action: bool  # column 7 may be empty
    last: str  # column 8: "person_id" (optional), "score", "person_score"

    def with_markers(self, allowed: bool) -> _Layout:
        columns = tuple(sorted({*self.columns, 2})) if allowed else self.columns
        return _Layout(self.name, columns, self.empty_action, self.last)

    def count_reason(self, got: int) -> str:
        want = [str(c) for c in self.columns]
        text = want[0] if len(want) == 1 else ", ".join(want[:-1]) + " or " + want[-1]
        return f"expected {text} columns, got {got} ({_HEADER[self.last]})"


_HEADER = {
    "person_id": "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]",
    "score": "video_id,timestamp,x1,y1,x2,y2,action_id,score",
    "person_score": "video_id,timestamp,x1,y1,x2,y2,[action_id],score",
}
GROUNDTRUTH = _Layout("ground-truth", (7, 8), empty_action=False, last="person_id")
DETECTIONS = _Layout("detections", (8,), empty_action=False, last="score")
PERSON_BOXES = _Layout("person-box", (8,), empty_action=True, last="person_score")

_MAX_ID = 2**31  # ids are int64 downstream; anything this large is a broken file anyway


@dataclass
class _Table:
    """Parsed columns of a box CSV; ``*_empty`` flag empty optional cells."""

    names: np.ndarray  # object[V]
    codes: np.ndarray  # int64[N]
    timestamps: np.ndarray  # float64[N]
    boxes: np.ndarray  # float64[N, 4]
    actions: np.ndarray  # float64[N]
    last: np.ndarray  # float64[N]
    markers: np.ndarray  # bool[N]
    action_empty: np.ndarray | None = None  # bool[N] or None (= none empty)
    last_empty: np.ndarray | None = None

    def empty(self, column: str) -> np.ndarray:
        flags = self.action_empty if column == "action" else self.last_empty
        return np.zeros(len(self.codes), bool) if flags is None else flags


def _problems(
    table: _Table, layout: _Layout, max_class_id: int | None
) -> list[tuple[np.ndarray, str]]:
    """THE row rules, vectorised: ``[(bad_row_mask, reason)]``."""
    rows = ~table.markers
    bad_name = np.array([not str(name).strip() for name in table.names], dtype=bool)
    ts = table.timestamps
    with np.errstate(invalid="ignore"):
        problems = [
            (bad_name[table.codes] if bad_name.any() else np.zeros(len(ts), bool),
             "empty video id"),
            (~(np.isfinite(ts) & (ts >= 0)), "timestamp must be a finite number >= 0"),
        ]  # fmt: skip
        problems += [(rows & mask, f"box {reason}") for mask, reason in _box_problems(table)]
        action, action_ok = table.actions, table.empty("action") & layout.empty_action
        whole = np.isfinite(action) & (action == np.round(action))
        bad_id = ~whole | (action < 1) | (action >= _MAX_ID)
        problems.append((rows & ~action_ok & bad_id, "action id must be an integer >= 1"))
        if max_class_id is not None:
            unknown = rows & ~action_ok & ~bad_id & (action > max_class_id)
            reason = f"unknown action id (label map ids end at {max_class_id})"
            problems.append((unknown, reason))
        problems.append((rows & _last_problem(table, layout), _LAST_REASON[layout.last]))
    return problems


_LAST_REASON = {
    "person_id": "person id (column 8) must be an integer",
    "score": "score must be a finite number",
    "person_score": "person-box score (column 8) must be in [0, 1] "
    "(a ground-truth file has person ids there, not scores)",
}


def _box_problems(table: _Table) -> list[tuple[np.ndarray, str]]:
    return [
        (mask, reason.replace("box must have ", "must have "))
        for mask, reason in box_problems(table.boxes, normalized=True)
    ]


def _last_problem(table: _Table, layout: _Layout) -> np.ndarray:
    value = table.last
    if layout.last == "person_id":
        whole = np.isfinite(value) & (value == np.round(value)) & (np.abs(value) < _MAX_ID)
        return ~table.empty("last") & ~whole
    if layout.last == "score":
        return ~np.isfinite(value)
    return ~((value >= 0) & (value <= 1))


def _first_problem(
    table: _Table, layout: _Layout, max_class_id: int | None
) -> tuple[int, str] | None:
    """``(row_index, reason)`` of the first row breaking a rule (rows in table order)."""
    first: tuple[int, str] | None = None
    for mask, reason in _problems(table, layout, max_class_id):
        hits = np.flatnonzero(mask)
        if hits.size and (first is None or hits[0] < first[0]):
            first = (int(hits[0]), reason)
    return first


# --------------------------------------------------------------------------- the fast reader


class _Fallback(Exception):
    """The fast path cannot read this file; the reference reader takes over."""


def _first_width(path: Path, layout: _Layout) -> int:
    """Column count of the first non-blank, non-marker row (2 when only markers)."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        for fields in csv.reader(handle):
            if (
                fields
                and "".join(fields).strip()
                and not (len(fields) == 2 and 2 in layout.columns)
            ):
                return len(fields)
    return 2


def _read_fast(path: Path, layout: _Layout, max_class_id: int | None) -> _Table:
    """Streams the file through pyarrow.csv (explicit types) into numpy, validating each
    batch while it is in cache; raises ``_Fallback`` on any surprise or broken rule."""
    import pyarrow as pa
    import pyarrow.csv as pv

    width = _first_width(path, layout)
    if width not in layout.columns or width == 2:
        raise _Fallback
    markers: list[str] = []

    def on_invalid_row(row: Any) -> str:  # pyarrow.csv.InvalidRow
        if not row.text.strip():
            return "skip"  # whitespace-only line: blank
        if row.actual_columns == 2 and 2 in layout.columns:
            markers.append(row.text)
            return "skip"
        return "error"  # another column count: the reference reader decides

    names = [f"c{i}" for i in range(width)]
    types = {"c0": pa.string(), **{name: pa.float64() for name in names[1:]}}
    # A row takes >= 2 * width - 1 bytes (one optional cell may be empty, plus newline).
    columns = _ArrowColumns(path.stat().st_size // (2 * width - 2) + 2, width)
    try:
        reader = pv.open_csv(
            path,
            read_options=pv.ReadOptions(column_names=names, block_size=1 << 21),
            parse_options=pv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False
            ),
        )
        for batch in reader:
            columns.add(batch, layout, max_class_id)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _Fallback from None
    return columns.finish(markers, layout)


class _ArrowColumns:
    """numpy columns filled batch by batch from pyarrow's buffers.

    The arrays are allocated for the most rows the file can hold (a row takes at least
    ``2 * width - 1`` bytes) but only the pages written are ever touched; the result is a
    view of the first rows. Copying from buffers directly: ``to_numpy`` imports pandas.
    """

    def __init__(self, capacity: int, width: int) -> None:
        self.width, self.n, self.names = width, 0, {}
        self.codes = np.empty(capacity, np.int64)
        self.timestamps, self.actions, self.last = (np.empty(capacity) for _ in range(3))
        self.boxes = np.empty((capacity, 4))  # (N, 4)
        self.empty: dict[int, np.ndarray] = {}  # column index -> null flags, once seen

    def add(self, batch: Any, layout: _Layout, max_class_id: int | None) -> None:
        import pyarrow.compute as pc

        lo, hi = self.n, self.n + batch.num_rows
        if hi > len(self.codes):
            raise _Fallback  # cannot happen for a file of rows; stay safe anyway
        encoded = pc.dictionary_encode(batch.column(0))
        local = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        local_codes = _buffer(encoded.indices, np.int64)
        lookup = np.array([self.names.setdefault(v, len(self.names)) for v in local], np.int64)
        self.codes[lo:hi] = lookup[local_codes] if len(lookup) else local_codes
        targets = [self.timestamps, *(self.boxes[:, i] for i in range(4)), self.actions, self.last]
        optional = {5: layout.empty_action, 6: layout.last == "person_id"}
        for index, target in enumerate(targets[: self.width - 1]):
            column = batch.column(index + 1)
            target[lo:hi] = _buffer(column, np.float64)
            if column.null_count:
                if not optional.get(index, False):
                    raise _Fallback  # an empty required cell: the reference reader says where
                flags = self.empty.setdefault(index, np.zeros(len(self.codes), bool))
                flags[lo:hi] = _null_mask(column)
                target[lo:hi][flags[lo:hi]] = 0.0  # null slots hold garbage
        if self.width == 7:
            self.last[lo:hi] = 1.0
        self.n = hi
        if _first_problem(self._table(lo, hi, local, local_codes), layout, max_class_id):
            raise _Fallback

    def _table(self, lo: int, hi: int, names: np.ndarray, codes: np.ndarray) -> _Table:
        def empty(index: int) -> np.ndarray | None:
            flags = self.empty.get(index)
            return flags[lo:hi] if flags is not None else None

        last_empty = np.ones(hi - lo, bool) if self.width == 7 else empty(6)
        return _Table(
            names, codes, self.timestamps[lo:hi], self.boxes[lo:hi], self.actions[lo:hi],
            self.last[lo:hi], np.zeros(hi - lo, bool), empty(5), last_empty,
        )  # fmt: skip

    def finish(self, marker_lines: list[str], layout: _Layout) -> _Table:
        """The rows read, then the keyframe-only rows (validated here)."""
        n = self.n
        body = self._table(0, n, np.array(list(self.names), dtype=object), self.codes[:n])
        if not marker_lines:
            return body
        marker_ids, marker_times = _parse_markers(marker_lines)
        m = len(marker_ids)
        marker_codes = np.array([self.names.setdefault(v, len(self.names)) for v in marker_ids])
        names = np.array(list(self.names), dtype=object)
        markers = _Table(
            names, marker_codes, marker_times, np.zeros((m, 4)), np.ones(m), np.ones(m),
            np.ones(m, bool), np.zeros(m, bool), np.ones(m, bool),
        )  # fmt: skip
        if _first_problem(markers, layout, None):
            raise _Fallback
        return _Table(
            names,
            np.r_[body.codes, marker_codes],
            np.r_[body.timestamps, marker_times],
            np.concatenate([body.boxes, markers.boxes]),
            np.r_[body.actions, markers.actions],
            np.r_[body.last, markers.last],
            np.r_[np.zeros(n, bool), np.ones(m, bool)],
            np.r_[body.empty("action"), markers.action_empty],
            np.r_[body.empty("last"), markers.last_empty],
        )


def _buffer(array: Any, dtype: type) -> np.ndarray:
    """Values of a pyarrow Int/Float array without nulls handling, as numpy ``dtype``."""
    item = array.type.bit_width // 8
    kind = "f" if np.dtype(dtype).kind == "f" else "i"
    values = np.frombuffer(array.buffers()[1], f"<{kind}{item}", len(array), array.offset * item)
    return values.astype(dtype, copy=False)


def _null_mask(array: Any) -> np.ndarray:
    """``bool[len]`` True where ``array`` (a pyarrow Array) is null."""
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)] == 0


def _parse_markers(lines: list[str]) -> tuple[list[str], np.ndarray]:
    """Keyframe-only rows seen by the fast path: ``(video ids, seconds)``."""
    ids, times = [], []
    for line in lines:
        fields = next(csv.reader([line]), [])
        parsed = _parse_line(fields, GROUNDTRUTH.with_markers(True)) if len(fields) == 2 else ""
        if isinstance(parsed, str):
            raise _Fallback
        ids.append(fields[0])
        times.append(parsed[0][0])
    return ids, np.asarray(times, dtype=np.float64)


# --------------------------------------------------------------------------- the reference reader


def _number(text: str) -> float:
    """``float(text)``, minus what pyarrow does not take either (``1_000``, non-ASCII)."""
    if "_" in text or not text.isascii():
        raise ValueError(text)
    return float(text)


def _parse_line(fields: list[str], layout: _Layout) -> tuple[list[float], list[bool]] | str:
    """Numbers of one row (and which optional cells were empty), or the reason it is bad."""
    if len(fields) not in layout.columns:
        return layout.count_reason(len(fields))
    numbers, empty = [], []
    for column, text in enumerate(fields[1:], start=2):
        optional = (column == 7 and layout.empty_action) or (
            column == 8 and layout.last == "person_id"
        )
        if optional and text == "":
            numbers.append(0.0)
            empty.append(True)
            continue
        try:
            numbers.append(_number(text))
        except ValueError:
            return f"column {column} is not a number: {text!r} ({_column_name(column, layout)})"
        empty.append(False)
    return numbers, empty


class _ReferenceColumns:
    """Rows collected by the reference reader, stored compactly (8 bytes per number)."""

    def __init__(self) -> None:
        self.videos: list[str] = []
        self.numbers, self.empty, self.lines = array.array("d"), bytearray(), array.array("q")

    def add(self, video: str, numbers: list[float], empty: list[bool], line: int) -> None:
        self.videos.append(video)
        self.numbers.extend((numbers + [0.0] * 7)[:7])  # markers/7 columns: padded
        self.empty.extend((empty + [True] * 7)[:7])
        self.lines.append(line)


def _column_name(column: int, layout: _Layout) -> str:
    names = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id")
    last = "person_id" if layout.last == "person_id" else "score"
    return names[column - 1] if column <= len(names) else last


def _read_reference(path: Path, layout: _Layout, max_class_id: int | None) -> _Table:
    """Line-by-line reader (csv + float()): the rows, or ``ValueError`` for the first bad line."""
    rows, marker_rows = _ReferenceColumns(), _ReferenceColumns()
    stop: tuple[int, str] | None = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for line_number, fields in enumerate(csv.reader(handle), start=1):
                if not fields or not "".join(fields).strip():
                    continue
                parsed = _parse_line(fields, layout)
                if isinstance(parsed, str):
                    stop = (line_number, parsed)
                    break
                target = marker_rows if len(fields) == 2 else rows
                target.add(fields[0], parsed[0], parsed[1], line_number)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    table = _table_from_columns(rows, marker_rows)
    line_of = np.frombuffer(rows.lines + marker_rows.lines, dtype=np.int64)
    problem = _first_problem_by_line(table, layout, max_class_id, line_of)
    if stop is not None and (problem is None or stop[0] < problem[0]):
        problem = stop
    if problem is not None:
        raise ValueError(f"{path}:{problem[0]}: {problem[1]}")
    return table


def _table_from_columns(rows: _ReferenceColumns, marker_rows: _ReferenceColumns) -> _Table:
    index: dict[str, int] = {}
    videos = rows.videos + marker_rows.videos
    codes = np.fromiter((index.setdefault(v, len(index)) for v in videos), np.int64, len(videos))
    numbers = np.frombuffer(rows.numbers + marker_rows.numbers, dtype=np.float64).reshape(-1, 7)
    empty = np.frombuffer(rows.empty + marker_rows.empty, dtype=bool).reshape(-1, 7)
    markers = np.r_[np.zeros(len(rows.videos), bool), np.ones(len(marker_rows.videos), bool)]
    return _Table(
        names=np.array(list(index), dtype=object),
        codes=codes,
        timestamps=numbers[:, 0].copy(),
        boxes=numbers[:, 1:5].copy(),
        actions=numbers[:, 5].copy(),
        last=numbers[:, 6].copy(),
        markers=markers,
        action_empty=empty[:, 5] & ~markers,
        last_empty=empty[:, 6] | markers,
    )


def _first_problem_by_line(
    table: _Table, layout: _Layout, max_class_id: int | None, line_of: np.ndarray
) -> tuple[int, str] | None:
    first: tuple[int, str] | None = None
    for mask, reason in _problems(table, layout, max_class_id):
        if mask.any():
            line = int(line_of[mask].min())
            if first is None or line < first[0]:
                first = (line, reason)
    return first


def _read_table(
    path: PathLike, layout: _Layout, what: str, max_class_id: int | None, exact_floats: bool
) -> _Table:
    """Fast path first; the reference reader on failure (or always with ``exact_floats``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AVA {what} CSV not found: {path}")
    if not exact_floats:
        try:
            table = _read_fast(path, layout, max_class_id)
        except _Fallback:
            logger.debug("%s: fast reader declined, reading line by line", path)
        else:
            logger.debug("read %d rows from %s", len(table.codes), path)
            return table
    return _read_reference(path, layout, max_class_id)
