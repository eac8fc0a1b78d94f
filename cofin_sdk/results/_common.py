"""Validation and JSON helpers shared by the result types (numpy only, no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["as_array", "check_unit_interval", "load_json", "save_json", "write_text"]


def as_array(name: str, value: Any, dtype: type, ndim: int, width: int | None = None) -> np.ndarray:
    """Converts ``value`` to an array of ``dtype`` with ``ndim`` dims (empty input reshaped)."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, could not convert: {err}") from None
    if array.size == 0 and ndim == 2 and width is not None:
        array = array.reshape(0, width)
    if array.size == 0 and ndim == 1:
        array = array.reshape(0)
    if array.ndim != ndim or (width is not None and array.shape[1] != width):
        expected = f"[N, {width or 'C'}]" if ndim == 2 else "[N]"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_unit_interval(name: str, array: np.ndarray) -> None:
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"{name} must be probabilities in [0, 1], got values in "
            f"[{array.min():.4g}, {array.max():.4g}] (apply a sigmoid/softmax to logits)"
        )


def save_json(data: dict[str, Any], path: str | Path | None, indent: int | None) -> str:
    """``json.dumps(data)``; also written to ``path`` when given."""
    text = json.dumps(data, indent=indent)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def write_text(text: str, path_or_buffer: str | Path | IO[str] | None) -> str:
    """Writes ``text`` to a file path or a text buffer (``None``: nowhere); returns it."""
    if isinstance(path_or_buffer, (str, Path)):
        Path(path_or_buffer).write_text(text, encoding="utf-8")
    elif path_or_buffer is not None:
        path_or_buffer.write(text)
    return text


def load_json(text_or_path: str | Path) -> Any:
    """Parses JSON given as text, or as a path to a file holding it."""
    text, source = str(text_or_path), "JSON text"
    if not text.lstrip().startswith("{"):
        source = str(text_or_path)
        path = Path(text_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"JSON file not found: {source}")
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc})") from None
