"""Writers for the real dataset file formats (see docs/CONVENTIONS.md, data layout)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "write_mp4",
    "write_csv",
    "write_label_map_2018",
    "write_label_map_2019",
    "write_json",
    "format_row",
]


def write_mp4(path: Path, frames: np.ndarray, fps: int, crf: int = 23) -> None:
    """Write RGB frames ``(T, H, W, 3)`` uint8 as an H.264 mp4 (via ``cofin_sdk.io.video``).

    Note: libx264 through PyAV 18 is not bit-exact across runs here (same input,
    occasionally slightly different pixels, also with ``threads=1`` and yuv420p
    input), so determinism is guaranteed for annotations and rendered frames,
    and only up to small encoder noise for decoded frames.
    """
    from cofin_sdk.io.video import write_video

    write_video(path, frames, fps, crf=crf)


def format_row(row: Sequence) -> list[str]:
    """Floats with 3 decimals (6 for scores in column 8), everything else as ``str``."""
    out = []
    for i, value in enumerate(row):
        if isinstance(value, float):
            out.append(f"{value:.6f}" if i == 7 else f"{value:.3f}")
        else:
            out.append(str(value))
    return out


def write_csv(path: Path, rows: Iterable[Sequence], header: Sequence[str] | None = None) -> None:
    """Write rows as CSV (``\\n`` line endings), optionally with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        for row in rows:
            writer.writerow(format_row(row))


def write_label_map_2018(path: Path, names: Sequence[str]) -> None:
    """AVA v2.x label map, ``item { name: "..." id: N }`` form; ids start at 1."""
    lines = [f'item {{\n  name: "{name}"\n  id: {i}\n}}' for i, name in enumerate(names, start=1)]
    path.write_text("\n".join(lines) + "\n")


def write_label_map_2019(
    path: Path, names: Sequence[str], evaluated: Sequence[str], kinds: dict[str, str]
) -> None:
    """ActivityNet-2019 label map (``label { name label_id label_type }``) of the evaluated classes."""
    blocks = []
    for i, name in enumerate(names, start=1):
        if name in evaluated:
            blocks.append(
                f'label {{\n  name: "{name}"\n  label_id: {i}\n  label_type: {kinds[name]}\n}}'
            )
    path.write_text("\n".join(blocks) + "\n")


def write_json(path: Path, data: object) -> None:
    """Write JSON with sorted-insertion order preserved and a trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
