"""Readers for the clip-classification annotation formats: Kinetics-400/700 CSV,
Moments in Time CSV + categories, Something-Something v2 JSON.

Each reader returns plain records; :mod:`training.data.classification` turns them
into datasets.

Example:
    >>> records = read_kinetics_csv("kinetics/train.csv")   # doctest: +SKIP
    >>> records[0].video_stem                                # doctest: +SKIP
    'abc123def45_000010_000020'
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from typing import Any

from training.data._common import iter_csv_rows, malformed, parse_float, parse_int

KINETICS_COLUMNS: tuple[str, ...] = ("label", "youtube_id", "time_start", "time_end")


@dataclass(frozen=True)
class KineticsRecord:
    """One row of a Kinetics CSV.

    Attributes:
        label: Class name.
        youtube_id: YouTube id.
        time_start: Clip start in the YouTube video (s).
        time_end: Clip end (s).
    """

    label: str
    youtube_id: str
    time_start: int
    time_end: int

    @property
    def video_stem(self) -> str:
        """File name without extension: ``<ytid>_<start:06d>_<end:06d>``."""
        return f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}"


def _kinetics_header(path: str | os.PathLike[str], header: list[str]) -> dict[str, int]:
    """Column positions of the required Kinetics columns."""
    names = [h.strip().lower() for h in header]
    missing = [c for c in KINETICS_COLUMNS if c not in names]
    if missing:
        raise malformed(
            path,
            1,
            f"header must contain {','.join(KINETICS_COLUMNS)} (split optional), got {header}; missing {missing}",
        )
    return {c: names.index(c) for c in KINETICS_COLUMNS}


def read_kinetics_csv(path: str | os.PathLike[str]) -> list[KineticsRecord]:
    """Read a Kinetics-400/600/700 CSV (``label,youtube_id,time_start,time_end,split``).

    Args:
        path: CSV with a header row; columns are found by name.

    Returns:
        One record per row.

    Raises:
        ValueError: Missing header columns or a malformed row (file and line named).
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise malformed(path, 1, "file is empty, expected a header row")
    columns = _kinetics_header(path, rows[0])
    records = []
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) <= max(columns.values()):
            raise malformed(
                path, line, f"expected {len(rows[0])} columns, got {len(cells)}: {cells}"
            )
        label, ytid = cells[columns["label"]].strip(), cells[columns["youtube_id"]].strip()
        if not label or not ytid:
            raise malformed(path, line, "empty label or youtube_id")
        start = parse_float(path, line, "time_start", cells[columns["time_start"]])
        end = parse_float(path, line, "time_end", cells[columns["time_end"]])
        if end <= start:
            raise malformed(path, line, f"time_end {end} <= time_start {start}")
        records.append(KineticsRecord(label, ytid, int(start), int(end)))
    return records


def read_mit_categories(path: str | os.PathLike[str]) -> list[str]:
    """Read ``moments_categories.txt`` (``label,index`` per line) into index order.

    Raises:
        ValueError: A malformed row, or indices that are not exactly ``0..N-1``.
    """
    by_index: dict[int, str] = {}
    for line, cells in iter_csv_rows(path, min_columns=2):
        index = parse_int(path, line, "index", cells[1])
        if index in by_index:
            raise malformed(path, line, f"index {index} repeats (already {by_index[index]!r})")
        by_index[index] = cells[0]
    if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(
            f"{path}: category indices must be 0..{len(by_index) - 1}, got {sorted(by_index)}"
        )
    return [by_index[i] for i in range(len(by_index))]


def read_mit_csv(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read a Moments in Time split CSV (``<label>/<file>.mp4,<label>,<agree>,<total>``).

    Returns:
        ``(relative_video_path, label_name)`` per row.

    Raises:
        ValueError: A malformed row (file and line named).
    """
    records = []
    for line, cells in iter_csv_rows(path, min_columns=2):
        if not cells[0] or not cells[1]:
            raise malformed(path, line, "empty video path or label")
        records.append((cells[0], cells[1]))
    return records


def _load_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise malformed(path, exc.lineno, f"invalid JSON: {exc.msg}") from None


def read_ssv2_labels(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read ``something-something-v2-labels.json`` (``{template: "index"}``).

    Raises:
        ValueError: Not a JSON object of integer-like values.
    """
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected a JSON object {{template: index}}, got {type(data).__name__}"
        )
    labels = {}
    for template, index in data.items():
        try:
            labels[template] = int(index)
        except (TypeError, ValueError):
            raise ValueError(
                f"{path}: label {template!r} has non-integer index {index!r}"
            ) from None
    return labels


def ssv2_template_key(template: str) -> str:
    """``"Putting [something] on a surface"`` → ``"Putting something on a surface"``."""
    return template.replace("[", "").replace("]", "")


def read_ssv2_annotations(
    path: str | os.PathLike[str], labels: dict[str, int]
) -> list[tuple[str, int]]:
    """Read ``something-something-v2-{train,validation}.json``.

    Args:
        path: JSON list of ``{"id", "label", "template", "placeholders"}``.
        labels: From :func:`read_ssv2_labels`.

    Returns:
        ``(video_id, label_index)`` per entry.

    Raises:
        ValueError: Not a list, an entry without ``id``/``template``, or a template
            missing from the labels file (the entry index is named).
    """
    data = _load_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of entries, got {type(data).__name__}")
    records = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise ValueError(
                f"{path}: entry {i} must be an object with 'id' and 'template', got {entry!r}"
            )
        key = ssv2_template_key(str(entry["template"]))
        if key not in labels:
            raise ValueError(
                f"{path}: entry {i} (id {entry['id']}) has template {key!r} not in the labels file"
            )
        records.append((str(entry["id"]), labels[key]))
    return records
