"""THE clip rule shared by training and inference (numpy only; re-exported by
:mod:`cofin_sdk.io.video`): keyframe time -> key frame -> clip frame indices -> the
nominal-grid times decoded. ``read_clip``, the Detector, ``Detector.stream``, every dataset
and the benchmarks call these; ``tests/cofin_sdk/test_clip_rule.py`` sweeps them over whole
videos.

Keyframe placement (``Preprocessing.keyframe``, ``run.keyframe`` in a training config,
``cofin eval --keyframe``, ``Detector.stream(keyframe=)``):

* ``"centre"`` (the paper's): the key frame is the middle of the clip, so half the clip
  lies after the keyframe; a live stream must wait for it.
* ``"causal"``: the clip ends at the key frame; nothing after the keyframe is needed, so a
  live result can follow the keyframe by the inference time alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cofin_sdk.preprocessing import KEYFRAME_PLACEMENTS, check_placement

__all__ = [
    "KEYFRAME_PLACEMENTS",
    "check_placement",
    "clip_frame_indices",
    "clip_offsets",
    "clip_indices_at",
    "frame_times",
    "keyframe_index",
    "keyframe_position",
    "spread_centre_indices",
]


def keyframe_position(num_frames: int, placement: str = "centre") -> int:
    """Index of the key frame inside a clip of ``num_frames`` frames.

    Example:
        >>> keyframe_position(8), keyframe_position(8, "causal")
        (4, 7)
    """
    return num_frames - 1 if check_placement(placement) == "causal" else num_frames // 2


def clip_offsets(num_frames: int, frame_stride: int, placement: str = "centre") -> np.ndarray:
    """Frame offsets of a clip's frames from its key frame (the clip rule without clamping).

    Example:
        >>> clip_offsets(4, 2).tolist(), clip_offsets(4, 2, "causal").tolist()
        ([-4, -2, 0, 2], [-6, -4, -2, 0])
    """
    key = keyframe_position(num_frames, placement)
    return (np.arange(num_frames, dtype=np.int64) - key) * frame_stride


def clip_frame_indices(
    center_index: int,
    num_frames: int,
    frame_stride: int,
    num_video_frames: int,
    placement: str = "centre",
) -> np.ndarray:
    """THE clip sampler shared by training and inference.

    Index ``i`` of the clip is ``center_index + (i - k) * frame_stride`` with ``k`` the key
    frame's position (:func:`keyframe_position`: ``num_frames // 2`` centred, ``num_frames - 1``
    causal), clamped to ``[0, num_video_frames - 1]`` (the edge frame is repeated).

    Args:
        center_index: Index of the key frame (the centre frame for ``"centre"``).
        num_frames: Number of frames T in the clip (>= 1).
        frame_stride: Step between sampled frames (>= 1).
        num_video_frames: Number of frames in the video (>= 1).
        placement: ``"centre"`` or ``"causal"`` (the clip ends at the key frame).

    Returns:
        ``np.ndarray[int64]`` of shape ``(num_frames,)``.

    Raises:
        ValueError: If a count or the stride is not positive, or an unknown placement.

    Example:
        >>> clip_frame_indices(1, 4, 2, 10).tolist(), clip_frame_indices(7, 4, 2, 10, "causal").tolist()
        ([0, 0, 1, 3], [1, 3, 5, 7])
    """
    if num_frames < 1 or frame_stride < 1 or num_video_frames < 1:
        raise ValueError(
            "num_frames, frame_stride and num_video_frames must be >= 1, got "
            f"{num_frames}, {frame_stride}, {num_video_frames}"
        )
    offsets = clip_offsets(num_frames, frame_stride, placement)
    return np.clip(int(center_index) + offsets, 0, num_video_frames - 1)


def keyframe_index(time: float, fps: float, num_video_frames: int) -> int:
    """THE keyframe-time -> centre-frame rule, shared by training and inference.

    The centre frame of a clip at ``time`` seconds is the frame of the nominal
    constant-rate grid nearest to it, ``floor(time * fps + 1/2)`` (a tie goes to the
    later frame), clamped to ``[0, num_video_frames - 1]``: a time past the end gives
    the last frame, a negative time the first.

    Args:
        time: Keyframe time in seconds from the stream start.
        fps: The video's (average) frame rate.
        num_video_frames: Number of frames in the video (>= 1).

    Returns:
        The frame index.

    Raises:
        ValueError: If ``time`` is not finite or ``fps`` / ``num_video_frames`` is not positive.

    Example:
        >>> keyframe_index(2.0, 30000 / 1001, 300), keyframe_index(99.0, 25, 50)
        (60, 49)
    """
    if not math.isfinite(time):
        raise ValueError(f"keyframe time must be finite seconds, got {time}")
    if not (math.isfinite(fps) and fps > 0) or num_video_frames < 1:
        raise ValueError(
            f"fps and num_video_frames must be positive, got {fps}, {num_video_frames}"
        )
    return int(min(max(math.floor(time * fps + 0.5), 0), num_video_frames - 1))


def clip_indices_at(
    center_time: float,
    fps: float,
    num_video_frames: int,
    num_frames: int,
    frame_stride: int,
    placement: str = "centre",
) -> np.ndarray:
    """Frame indices of the clip of the keyframe at ``center_time``: :func:`keyframe_index`,
    then :func:`clip_frame_indices` (centred on it, or ending at it for ``"causal"``). Every
    reader (``read_clip``, the Detector, the datasets) calls this.

    Example:
        >>> clip_indices_at(0.1, 10.0, 20, 4, 2).tolist()
        [0, 0, 1, 3]
    """
    center = keyframe_index(center_time, fps, num_video_frames)
    return clip_frame_indices(center, num_frames, frame_stride, num_video_frames, placement)


def frame_times(indices: np.ndarray | Sequence[int], fps: float) -> np.ndarray:
    """Nominal-grid times ``index / fps`` (seconds) of frame indices; the decoded frame
    nearest each time is the frame returned, which makes variable-frame-rate videos safe."""
    return np.asarray(indices, dtype=np.float64) / float(fps)


def spread_centre_indices(num_video_frames: int, num_clips: int = 1) -> np.ndarray:
    """Centre frames of ``num_clips`` clips spread evenly over a video.

    Clip ``i`` is centred on frame ``floor((i + 1/2) * num_video_frames / num_clips)``; one
    clip is centred on the middle frame ``num_video_frames // 2`` (the single view of the
    paper's evaluation). Used by classification datasets and ``Detector.classify``.

    Example:
        >>> spread_centre_indices(100).tolist(), spread_centre_indices(100, 4).tolist()
        ([50], [12, 37, 62, 87])
    """
    if num_video_frames < 1 or num_clips < 1:
        raise ValueError(
            f"num_video_frames and num_clips must be >= 1, got {num_video_frames}, {num_clips}"
        )
    return np.floor((np.arange(num_clips) + 0.5) * num_video_frames / num_clips).astype(np.int64)
