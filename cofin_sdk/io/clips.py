"""Keyframe clips for the Detector: decoded group by group, letterboxed once.

Each keyframe time becomes a :class:`Clip` holding the model input as uint8
``(T, S, S, 3)`` (:func:`~cofin_sdk.preprocessing.letterbox_frames`), its letterbox and the
centre frame (for person detection). Frames come from
:func:`~cofin_sdk.io.video.clip_indices_at`, the clip rule training uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from cofin_sdk.io.clip_rule import keyframe_position
from cofin_sdk.io.sources import ArrayVideo, FileVideo, VideoMeta
from cofin_sdk.io.video import clip_indices_at
from cofin_sdk.preprocessing import Letterbox, Preprocessing, letterbox_frames

__all__ = ["Clip", "batched", "iter_clips"]

#: Upper bound on decoded RGB frames held at once by one decode group.
DECODE_BUDGET_BYTES = 256 * 2**20


@dataclasses.dataclass
class Clip:
    """One model-input clip of a keyframe (centred on it, or ending at it when causal)."""

    time: float
    frames: np.ndarray  # (T, S, S, 3) uint8, letterboxed
    letterbox: Letterbox
    keyframe: np.ndarray  # (H, W, 3) uint8, the key frame (person boxes are found on it)


def _decode_groups(
    times: np.ndarray, meta: VideoMeta, prep: Preprocessing, max_keyframes: int
) -> Iterator[np.ndarray]:
    """Splits sorted keyframe times into groups decoded together (bounded memory)."""
    clip_bytes = prep.num_frames * meta.width * meta.height * 3
    size = max(1, min(max_keyframes, DECODE_BUDGET_BYTES // max(clip_bytes, 1)))
    for start in range(0, len(times), size):
        yield times[start : start + size]


def iter_clips(
    video: ArrayVideo | FileVideo, times: np.ndarray, prep: Preprocessing, group_size: int
) -> Iterator[Clip]:
    """Yields the clip of each keyframe time, decoding group by group."""
    meta = video.meta
    for group in _decode_groups(times, meta, prep, group_size):
        indices = [
            clip_indices_at(
                t, meta.fps, meta.num_frames, prep.num_frames, prep.frame_stride, prep.keyframe
            )
            for t in group
        ]
        frames = video.frames_at(np.unique(np.concatenate(indices)))
        for time, clip_indices in zip(group, indices, strict=True):
            clip_frames = np.stack([frames[int(i)] for i in clip_indices])  # (T, H, W, 3)
            model_input, letterbox = letterbox_frames(
                clip_frames, prep.image_size, resize=prep.resize
            )
            keyframe = frames[int(clip_indices[keyframe_position(prep.num_frames, prep.keyframe)])]
            yield Clip(float(time), model_input, letterbox, keyframe)
        del frames


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` items (the last one shorter)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
