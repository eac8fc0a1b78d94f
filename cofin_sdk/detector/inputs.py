"""What the Detector accepts, checked before anything is decoded: keyframe times (given,
the person boxes' own, or every ``every`` seconds), the head rule, caller-given boxes.

Each rule takes the caller's vocabulary (``every=`` / ``--every``, ``head=`` / ``--head``)
so the SDK and the CLI share one check and still speak their own language.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cofin_sdk.io.sources import VideoMeta
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.person_detection import GivenBoxes, PersonDetector

logger = logging.getLogger("cofin_sdk.detector")

__all__ = ["check_every", "check_given", "given_boxes", "keyframe_times", "resolve_head"]


def keyframe_times(
    meta: VideoMeta, every: float | None, timestamps: Any, person: PersonDetector | None
) -> np.ndarray:
    """Sorted keyframe times: given, the person boxes' own timestamps, or every ``every`` s."""
    slack = 0.5 / meta.fps  # the last frame "covers" half a frame period
    if timestamps is not None:
        times = np.unique(np.asarray(timestamps, dtype=np.float64).reshape(-1))
        if not times.size or not np.isfinite(times).all():
            raise ValueError(
                f"timestamps must be a non-empty list of finite seconds, got {timestamps!r}"
            )
        if times[0] < 0 or times[-1] > meta.last_time + slack:
            raise ValueError(
                f"timestamps must lie in the video, 0..{meta.last_time:.3f} s; got "
                f"{times[0]:g}..{times[-1]:g} s"
            )
        return times
    lookup = [t for t in getattr(person, "timestamps", None) or [] if t is not None]
    if every is None and lookup:
        times = np.unique(np.asarray(lookup, dtype=np.float64))
        inside = (times >= 0) & (times <= meta.last_time + slack)
        if not inside.all():
            logger.warning(
                "ignoring %d box timestamps outside the video (0..%.3f s)",
                int((~inside).sum()),
                meta.last_time,
            )
        if not inside.any():
            raise ValueError(
                f"none of the person-box timestamps {times[:5].tolist()}... lies in the video "
                f"(0..{meta.last_time:.3f} s); AVA CSVs of 15-min cuts need time_offset=900"
            )
        return times[inside]
    every = check_every(1.0 if every is None else every, meta.fps)
    return np.arange(0.0, meta.last_time + 1e-9, every)


_API_WORDS = {
    "head": "head=",
    "detection": "Detector.detect()",
    "classification": "Detector.classify()",
}


def resolve_head(
    heads: Mapping[str, HeadSpec],
    head: str | None,
    task: str,
    words: Mapping[str, str] = _API_WORDS,
) -> str:
    """THE head rule: ``head`` if it is a head of ``task``, else the first head of ``task``.

    Args:
        heads: ``{name: HeadSpec}`` of the weights.
        head: Requested head, or ``None`` for the first head of ``task``.
        task: ``"detection"`` or ``"classification"``.
        words: How the caller's interface names things in messages: ``"head"`` (the
            argument) and, per task, what to use instead (``Detector.detect()`` for the API,
            ``cofin detect`` for the CLI).

    Raises:
        ValueError: No head of ``task``, an unknown head, or a head of the other task.
    """
    listed = ", ".join(f"{name} ({spec.task})" for name, spec in heads.items())
    of_task = [name for name, spec in heads.items() if spec.task == task]
    arg = words["head"]
    if head is None:
        if not of_task:
            raise ValueError(f"these weights have no {task} head; their heads: {listed}")
        return of_task[0]
    if head not in heads:
        raise ValueError(f"{arg}{head!r}: no such head; the weights have {listed}")
    if heads[head].task != task:
        other = heads[head].task
        hint = f", or pass {arg}{of_task[0]!r}" if of_task else ""
        raise ValueError(f"{arg}{head!r} is a {other} head: use {words[other]} for it{hint}")
    return head


def check_every(every: Any, fps: float, name: str = "every=") -> float:
    """Keyframe spacing ``every`` (seconds) if valid for a ``fps`` video.

    Shorter than the frame period is an error: keyframes would repeat frames.

    Args:
        every: Spacing in seconds.
        fps: The video's frame rate.
        name: The argument as the caller's interface spells it (``"--every "`` for a CLI).

    Raises:
        ValueError: Not a positive number, or shorter than one frame period.
    """
    if isinstance(every, bool) or not (
        isinstance(every, (int, float)) and math.isfinite(every) and every > 0
    ):
        raise ValueError(f"{name}{every!r}: must be a positive number of seconds")
    period = 1.0 / fps
    if every < period * (1 - 1e-6):
        raise ValueError(
            f"{name}{every:g} is shorter than the frame period {period:.4g} s of this "
            f"{fps:g}-fps video, so keyframes would repeat frames; use {name}{period:.4g} or more"
        )
    return float(every)


def given_boxes(boxes: Any, normalized: bool) -> GivenBoxes:
    """``boxes=`` of ``detect`` as a GivenBoxes (pixels unless ``normalized``)."""
    try:
        return GivenBoxes(boxes, normalized=normalized)
    except TypeError as exc:
        raise ValueError(f"detect(normalized=...): {exc}") from None


def check_given(person: GivenBoxes, times: np.ndarray, meta: VideoMeta) -> None:
    """Checks given boxes at every keyframe before any decoding (detect() vocabulary)."""
    missing = [float(t) for t in times if not person.has(float(t))]
    if missing:
        raise ValueError(
            f"boxes= has no entry for keyframe(s) {missing[:5]} s (boxes are given for "
            f"{person.timestamps[:5]} s); give boxes for those times, or leave timestamps= and "
            "every= unset to use the boxes' own times"
        )
    blank = np.zeros((meta.height, meta.width, 3), np.uint8)
    for time in times:
        person(blank, float(time))
