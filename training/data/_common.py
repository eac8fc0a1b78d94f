"""Shared helpers of the dataset readers: CSV rows with line numbers, error messages,
video-file lookup and the missing-video policy."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: Container extensions looked up for a video id, in order of preference.
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")

#: How many missing ids an error or warning lists before "...".
_MAX_LISTED = 5


def malformed(path: str | os.PathLike[str], line: int, problem: str) -> ValueError:
    """Build the error raised for a malformed annotation row.

    Args:
        path: File the row comes from.
        line: 1-based line number of the row.
        problem: What is wrong with it, e.g. ``"x1 'abc' is not a number"``.

    Returns:
        A ``ValueError`` whose message names the file, the line and the problem.
    """
    return ValueError(f"{path}:{line}: {problem}")


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """Return ``path`` as a ``Path`` or raise ``FileNotFoundError`` naming ``what`` it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def iter_csv_rows(
    path: str | os.PathLike[str], min_columns: int
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, cells)`` for every non-blank row of a CSV file.

    Args:
        path: CSV file (comma separated, optional quoting).
        min_columns: Rows with fewer cells raise.

    Yields:
        The 1-based line number and the stripped cells of each row.

    Raises:
        ValueError: A row has fewer than ``min_columns`` cells (message names file and line).
    """
    with open(path, newline="", encoding="utf-8") as f:
        for line, cells in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if len(cells) < min_columns:
                raise malformed(
                    path,
                    line,
                    f"expected at least {min_columns} columns, got {len(cells)}: {cells}",
                )
            yield line, cells


def parse_float(path: str | os.PathLike[str], line: int, name: str, text: str) -> float:
    """Parse one numeric cell, raising a ``ValueError`` naming file, line and column."""
    try:
        return float(text)
    except ValueError:
        raise malformed(path, line, f"{name} {text!r} is not a number") from None


def parse_int(path: str | os.PathLike[str], line: int, name: str, text: str) -> int:
    """Parse one integer cell, raising a ``ValueError`` naming file, line and column."""
    try:
        return int(text)
    except ValueError:
        raise malformed(path, line, f"{name} {text!r} is not an integer") from None


def parse_timestamp(path: str | os.PathLike[str], line: int, text: str) -> int | float:
    """Parse an AVA timestamp: integer seconds (v2.x) or ``%.6f`` seconds (2020 files).

    Integral values come back as ``int`` so that ``"0902"``, ``"902"`` and
    ``"902.000000"`` name the same keyframe.
    """
    value = parse_float(path, line, "timestamp", text)
    return int(value) if value.is_integer() else value


def index_videos(directories: Iterable[Path], recursive: bool = True) -> dict[str, Path]:
    """Map file stem → path for every video file under ``directories``.

    Args:
        directories: Folders to scan; missing ones are ignored.
        recursive: Also scan sub-folders (``<split>/<label>/<file>.mp4`` layouts).

    Returns:
        ``{stem: path}``; the first directory wins when a stem repeats.
    """
    index: dict[str, Path] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        pattern = "**/*" if recursive else "*"
        for path in sorted(directory.glob(pattern)):
            if path.suffix.lower() in VIDEO_EXTENSIONS and path.stem not in index:
                index[path.stem] = path
    return index


def handle_missing(missing: Sequence[str], where: str, skip_missing: bool) -> None:
    """Apply the missing-video policy: raise unless the user opted in to skipping.

    Args:
        missing: Ids (or relative paths) of videos that could not be found.
        where: Where they were looked for (for the message).
        skip_missing: ``True`` logs a warning and lets the caller drop those samples.

    Raises:
        FileNotFoundError: ``missing`` is not empty and ``skip_missing`` is ``False``.
    """
    if not missing:
        return
    listed = ", ".join(list(missing)[:_MAX_LISTED]) + (
        ", ..." if len(missing) > _MAX_LISTED else ""
    )
    message = f"{len(missing)} video(s) not found in {where}: {listed}"
    if not skip_missing:
        raise FileNotFoundError(f"{message}. Pass skip_missing=True to train on the rest.")
    logger.warning("%s; skipping their samples (skip_missing=True)", message)


def no_samples(files: Sequence[str | os.PathLike[str]], filters: str) -> ValueError:
    """Build the error raised when a dataset ends up empty."""
    names = ", ".join(str(f) for f in files)
    return ValueError(f"no samples left from {names} after filters: {filters}")
