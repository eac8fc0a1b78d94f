"""The video inputs the Detector accepts (path, file object, array), behind one interface.

Each source has ``meta`` (:class:`VideoMeta`) and ``frames_at(indices)``; non-seekable
streams are spooled to a temporary file (on disk, not in memory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from cofin_sdk.io.video import frame_times, probe, read_frames_at

__all__ = ["ArrayVideo", "FileVideo", "VideoMeta", "open_video"]


@dataclasses.dataclass(frozen=True)
class VideoMeta:
    """Facts the Detector needs about an input video."""

    video_id: str
    fps: float
    num_frames: int
    width: int
    height: int

    @property
    def last_time(self) -> float:
        """Time of the last frame in seconds."""
        return (self.num_frames - 1) / self.fps


class ArrayVideo:
    """A ``uint8 (T, H, W, 3)`` array with a frame rate."""

    def __init__(self, frames: np.ndarray, fps: float | None) -> None:
        if fps is None:
            raise ValueError(
                "fps is required when the video is a numpy array: detect(frames, fps=25.0)"
            )
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if frames.dtype != np.uint8:
            raise ValueError(
                f"video array must be uint8 RGB (T, H, W, 3), got dtype {frames.dtype}; "
                "convert floats in [0, 1] with (frames * 255).round().astype(np.uint8)"
            )
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"video array must have shape (T, H, W, 3) RGB, got {frames.shape}; "
                "a single frame needs a leading axis: frame[None]"
            )
        if min(frames.shape[:3]) == 0:
            raise ValueError(f"video has no frames (array shape {frames.shape})")
        self.frames = frames
        T, H, W, _ = frames.shape
        self.meta = VideoMeta("", float(fps), T, W, H)

    def frames_at(self, indices: np.ndarray) -> dict[int, np.ndarray]:
        return {int(i): self.frames[i] for i in indices}


class FileVideo:
    """A path or seekable binary file object, decoded with PyAV on demand."""

    def __init__(self, source: str | os.PathLike | IO[bytes], fps: float | None) -> None:
        if fps is not None:
            raise ValueError(
                "fps= is only for numpy arrays; a video file's frame rate is read from the file"
            )
        self.source = source
        info = probe(source)
        name = info.name if info.name != "<file object>" else ""
        self.meta = VideoMeta(
            Path(name).stem if name else "", info.fps, info.num_frames, info.width, info.height
        )

    def frames_at(self, indices: np.ndarray) -> dict[int, np.ndarray]:
        # Nominal-grid times, as read_clip uses: the decoded frame nearest each wins.
        frames = read_frames_at(self.source, frame_times(indices, self.meta.fps).tolist())
        return {int(i): frame for i, frame in zip(indices, frames, strict=True)}


@contextlib.contextmanager
def open_video(video: Any, fps: float | None) -> Iterator[ArrayVideo | FileVideo]:
    """Wraps any accepted video input; non-seekable streams are spooled to a temp file."""
    if isinstance(video, np.ndarray):
        yield ArrayVideo(video, fps)
    elif isinstance(video, (str, os.PathLike)):
        yield FileVideo(video, fps)
    elif hasattr(video, "read"):
        if _seekable(video):
            yield FileVideo(video, fps)
            return
        # Decoding seeks and reopens per group; a pipe cannot, so copy it to disk (not RAM).
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(video, spool)
            spool.seek(0)
            yield FileVideo(spool, fps)
    else:
        raise TypeError(
            "video must be a path, a binary file object or a uint8 numpy array (T, H, W, 3), "
            f"got {type(video).__name__}"
        )


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False
