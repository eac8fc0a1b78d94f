"""The H.264 writer behind :func:`cofin_sdk.io.video.write_video` (re-exported there)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

logger = logging.getLogger("cofin_sdk.io.video")

__all__ = ["write_video"]


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: float,
    *,
    crf: int = 23,
    pix_fmt: str = "yuv420p",
    preset: str = "veryfast",
    gop_size: int | None = None,
    faststart: bool = False,
) -> int:
    """Write RGB frames to an H.264 (libx264) mp4, streaming.

    Odd sizes: ``yuv420p`` (the default, playable everywhere, including
    browsers) needs even width and height, so an odd dimension is padded by ONE
    pixel, replicating the last row/column; the file is then one pixel
    larger. Use ``pix_fmt="yuv444p"`` to keep odd sizes exactly (less widely
    playable).

    Args:
        path: Output file (``.mp4``); parent directories are created.
        frames: ``(T, H, W, 3)`` uint8 array or an iterable of ``(H, W, 3)`` uint8
            RGB frames (consumed lazily, so generators keep memory bounded).
        fps: Frame rate (e.g. 25 or 29.97).
        crf: x264 constant rate factor (0 lossless luma … 51 worst; 23 default).
        pix_fmt: Encoded pixel format (``"yuv420p"`` or ``"yuv444p"``).
        preset: x264 speed preset.
        gop_size: Keyframe interval in frames; default one keyframe per second,
            which keeps random access (seek + decode a clip) cheap.
        faststart: Move the ``moov`` index before the media data (``movflags=+faststart``,
            one extra pass over the file when it closes) so a browser can start playing
            while it downloads; web pages want this.

    Returns:
        The number of frames written.

    Raises:
        ValueError: If ``fps`` is not positive, no frames are given, or a frame has
            the wrong dtype/shape or a different size from the first one.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    first = _check_frame(first, 0, None)
    height, width = first.shape[:2]
    pad_h, pad_w = (height % 2, width % 2) if pix_fmt == "yuv420p" else (0, 0)
    if pad_h or pad_w:
        logger.info(
            "%s: padding %dx%d to %dx%d for yuv420p (even sizes needed); use pix_fmt='yuv444p' "
            "to keep odd sizes",
            path,
            width,
            height,
            width + pad_w,
            height + pad_h,
        )
    count = 0
    try:
        options = {"movflags": "+faststart"} if faststart else {}
        with av.open(os.fspath(path), mode="w", options=options) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = width + pad_w, height + pad_h
            stream.pix_fmt = pix_fmt
            stream.codec_context.gop_size = gop_size or max(1, int(round(fps)))
            stream.options = {"crf": str(crf), "preset": preset}
            for rgb in _chain(first, iterator):
                rgb = _check_frame(rgb, count, (height, width))
                if pad_h or pad_w:
                    rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = count
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode():
                container.mux(packet)
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: could not encode video ({exc})") from exc
    return count


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _check_frame(frame: Any, index: int, size: tuple[int, int] | None) -> np.ndarray:
    if hasattr(frame, "detach"):  # torch tensor
        frame = frame.detach().cpu().numpy()
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"frame {index} must be a uint8 array (H, W, 3) RGB, got {frame.dtype} {frame.shape}"
        )
    if size is not None and frame.shape[:2] != size:
        raise ValueError(
            f"frame {index} has size {frame.shape[:2]}, expected {size} like the first frame"
        )
    return np.ascontiguousarray(frame)
