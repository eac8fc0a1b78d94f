"""Clip classification results (numpy only, no torch): see :class:`Classifications`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._common import as_array, check_unit_interval, load_json, save_json

__all__ = ["Classifications"]

_JSON_FORMAT_CLS = "cofin.classifications/v1"


@dataclass(eq=False)
class Classifications:
    """Clip classification probabilities of one video for one head.

    Attributes:
        head: Name of the classification head (e.g. ``"kinetics400"``).
        class_names: ``C`` label names.
        clip_probabilities: ``float32 [num_clips, C]`` per-clip probabilities in [0, 1]
            (a ``[C]`` vector is accepted as one clip).
        clip_times: Optional ``float64 [num_clips]`` centre time of each clip in seconds.
        video_id: Identifier of the video.

    Example:
        >>> c = Classifications("kinetics400", ("dance", "run", "sit"),
        ...                     [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
        >>> c.top_k(2)
        [('dance', 0.6), ('run', 0.3)]
        >>> c.label
        'dance'
    """

    head: str
    class_names: tuple[str, ...]
    clip_probabilities: np.ndarray
    clip_times: np.ndarray | None = None
    video_id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.head, str) or not self.head:
            raise ValueError(f"head must be a non-empty str, got {self.head!r}")
        if isinstance(self.class_names, str) or not all(
            isinstance(n, str) for n in self.class_names
        ):
            raise ValueError(f"class_names must be a sequence of str, got {self.class_names!r}")
        self.class_names = tuple(self.class_names)
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        probs = np.asarray(self.clip_probabilities, dtype=np.float32)
        if probs.ndim == 1:
            probs = probs[None]
        self.clip_probabilities = as_array(
            "clip_probabilities", probs, np.float32, 2, len(self.class_names)
        )
        if not len(self.clip_probabilities):
            raise ValueError("clip_probabilities needs at least one clip")
        check_unit_interval("clip_probabilities", self.clip_probabilities)
        if self.clip_times is not None:
            self.clip_times = as_array("clip_times", self.clip_times, np.float64, 1)
            if len(self.clip_times) != len(self.clip_probabilities):
                raise ValueError(
                    f"clip_times has {len(self.clip_times)} entries but there are "
                    f"{len(self.clip_probabilities)} clips"
                )

    @property
    def probabilities(self) -> np.ndarray:
        """``float32 [C]`` probabilities averaged over clips."""
        return self.clip_probabilities.mean(axis=0)

    @property
    def num_clips(self) -> int:
        return len(self.clip_probabilities)

    @property
    def label(self) -> str:
        """The top-1 class name."""
        return self.class_names[int(np.argmax(self.probabilities))]

    def top_k(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(class_name, probability)`` pairs, best first."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        probs = self.probabilities
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.class_names[i], round(float(probs[i]), 6)) for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _JSON_FORMAT_CLS,
            "head": self.head,
            "video_id": self.video_id,
            "class_names": list(self.class_names),
            "clip_probabilities": self.clip_probabilities.tolist(),
            "clip_times": None if self.clip_times is None else self.clip_times.tolist(),
            "probabilities": self.probabilities.tolist(),
            "top_k": [[name, prob] for name, prob in self.top_k(5)],
        }

    def to_json(self, path: str | Path | None = None, indent: int | None = None) -> str:
        """Serialises to JSON (with the mean probabilities and top-5 for convenience)."""
        return save_json(self.to_dict(), path, indent)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Classifications:
        """Parses ``to_json`` output, given as the JSON text or a path to a file."""
        data = load_json(text_or_path)
        if data.get("format") != _JSON_FORMAT_CLS:
            raise ValueError(f"not cofin classifications JSON: format={data.get('format')!r}")
        return cls(
            data["head"],
            tuple(data["class_names"]),
            data["clip_probabilities"],
            data.get("clip_times"),
            data.get("video_id", ""),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Classifications):
            return NotImplemented
        times_equal = (self.clip_times is None) == (other.clip_times is None) and (
            self.clip_times is None or np.array_equal(self.clip_times, other.clip_times)
        )
        return (
            times_equal
            and (self.head, self.class_names, self.video_id)
            == (other.head, other.class_names, other.video_id)
            and np.array_equal(self.clip_probabilities, other.clip_probabilities)
        )

    def __repr__(self) -> str:
        width = max(len(name) for name, _ in self.top_k(5))
        lines = [f"  {name:<{width}}  {prob:.3f}" for name, prob in self.top_k(5)]
        video = f", video_id={self.video_id!r}" if self.video_id else ""
        return (
            f"Classifications(head={self.head!r}{video}, clips={self.num_clips}, "
            f"classes={len(self.class_names)}, top-5:\n" + "\n".join(lines) + "\n)"
        )
