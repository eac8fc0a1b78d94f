"""Video I/O with PyAV: probe, clip reading, streaming iteration and an H.264 writer.

Every reader in the project (training datasets, the Detector, the demo) decodes
through this module, and every clip is sampled with :func:`clip_frame_indices`, so
training and inference see exactly the same frames.

Conventions:
    * Time ``t`` is seconds of presentation time measured from the stream's
      ``start_time`` (``t = (pts - start_pts) * time_base``), so the first frame
      of an ordinary mp4 is at ``t = 0``.
    * Frame *indices* live on the nominal constant-rate grid ``t = index / fps``
      (``fps`` is the stream's average rate). A requested index is mapped to a
      target time and the decoded frame whose timestamp is nearest to it is
      returned, so variable-frame-rate videos are sampled by time, not by
      counting decoded frames. For constant-rate videos this is exactly the
      index-th frame.
    * Frames are RGB ``uint8`` arrays ``(H, W, 3)`` / clips ``(T, H, W, 3)``,
      rotated upright according to the display matrix / ``rotate`` tag.

Errors: a missing file raises ``FileNotFoundError``; an empty, truncated,
non-video or audio-only file raises ``ValueError`` naming the file and the
problem. Raw PyAV exceptions never escape.

Example:
    >>> from cofin_sdk.io.video import probe, read_clip, write_video
    >>> import numpy as np
    >>> frames = np.zeros((50, 64, 96, 3), np.uint8)
    >>> write_video("/tmp/cofin_doc.mp4", frames, fps=25)
    50
    >>> probe("/tmp/cofin_doc.mp4").num_frames
    50
    >>> read_clip("/tmp/cofin_doc.mp4", center_time=1.0, num_frames=8, frame_stride=2).shape
    (8, 64, 96, 3)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeAlias

import av
import numpy as np

from cofin_sdk.io.clip_rule import (
    clip_frame_indices,
    clip_indices_at,
    frame_times,
    keyframe_index,
    spread_centre_indices,
)
from cofin_sdk.io.writer import write_video

logger = logging.getLogger(__name__)

__all__ = [
    "VideoInfo",
    "VideoSource",
    "clip_frame_indices",
    "clip_indices_at",
    "frame_times",
    "iter_frames",
    "keyframe_index",
    "spread_centre_indices",
    "probe",
    "read_clip",
    "read_frames_at",
    "write_video",
]

VideoSource: TypeAlias = "str | os.PathLike[str] | IO[bytes]"
"""A path or a readable (ideally seekable) binary file object."""

# When the next wanted frame is further ahead than this (seconds, or the
# measured keyframe interval if larger), seek instead of decoding through.
_MIN_SEEK_GAP_S = 1.0


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """Facts about a video's first video stream.

    Attributes:
        name: File path, or the file object's ``name`` (``"<file object>"`` if none).
        fps: Average frame rate (frames per second).
        num_frames: Number of frames (container count, or ``round(duration * fps)``
            when the container does not store it).
        duration: Duration in seconds.
        width: Display width in pixels (after rotation).
        height: Display height in pixels (after rotation).
        rotation: Clockwise rotation in degrees (0, 90, 180, 270) applied to the
            coded frames to display them upright; the convention of the legacy
            ``rotate`` mp4 tag (a portrait phone video typically has 90).
        codec: Decoder name, e.g. ``"h264"``.
        start_time: Stream start time in seconds (times used by this module are
            relative to it).
    """

    name: str
    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    start_time: float

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) of the frames as stored, before rotation."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


# --------------------------------------------------------------------------- opening


def _source_name(source: VideoSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<file object>"))


@contextlib.contextmanager
def _open_video(source: VideoSource) -> Iterator[tuple[Any, Any, str]]:
    """Open ``source`` and yield ``(container, video_stream, name)``; errors are wrapped."""
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"video file not found: {name}")
        if path.is_dir():
            raise ValueError(f"{name}: is a directory, expected a video file")
        if not path.is_file():
            raise ValueError(
                f"{name}: not a regular file (a pipe or device); save the stream to a file, "
                "or pass an open binary file object"
            )
        if path.stat().st_size == 0:
            raise ValueError(f"{name}: file is empty (0 bytes)")
        target: Any = os.fspath(path)
    else:
        if not hasattr(source, "read"):
            raise TypeError(
                f"source must be a path or a binary file object, got {type(source).__name__}"
            )
        with contextlib.suppress(AttributeError, OSError, io.UnsupportedOperation):
            source.seek(0)
        target = source
    try:
        container = av.open(target, mode="r")
    except av.FFmpegError as exc:
        raise ValueError(f"{name}: could not open as a video container ({exc})") from exc
    except (OSError, EOFError) as exc:  # file objects can fail in their own way
        raise ValueError(f"{name}: could not read file ({exc})") from exc
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise ValueError(f"{name}: no video stream (streams found: {', '.join(kinds)})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream, name
    finally:
        container.close()


def _decode_error(name: str, exc: BaseException) -> ValueError:
    return ValueError(f"{name}: could not decode video, file may be truncated or corrupt ({exc})")


def _frame_rotation(frame: Any) -> int:
    """Clockwise degrees (0/90/180/270) needed to show ``frame`` upright."""
    try:
        ccw = frame.rotation  # display matrix, counter-clockwise degrees
    except (AttributeError, av.FFmpegError):
        ccw = 0
    return int(round(-ccw / 90.0)) * 90 % 360


def _stream_rotation(stream: Any) -> int | None:
    tag = stream.metadata.get("rotate")
    if tag is None:
        return None
    try:
        return int(round(float(tag) / 90.0)) * 90 % 360
    except ValueError:
        return None


def _to_rgb(frame: Any, rotation: int) -> np.ndarray:
    """Decoded frame -> upright RGB uint8 ``(H, W, 3)``."""
    rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))  # clockwise
    return rgb


def _stream_facts(container: Any, stream: Any) -> tuple[float, float, float]:
    """(fps, start_time_s, duration_s) of an open stream (duration may be 0 if unknown)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    time_base = stream.time_base
    start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
    if stream.duration is not None and time_base is not None:
        duration = float(stream.duration * time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    return fps, start, duration


def probe(source: VideoSource) -> VideoInfo:
    """Read a video's metadata (decodes one frame to read the rotation and check decodability).

    Args:
        source: Path or binary file object.

    Returns:
        The :class:`VideoInfo` of the first video stream.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If the file is empty, not a video, has no video stream, or no
            frame can be decoded.
    """
    with _open_video(source) as (container, stream, name):
        fps, start, duration = _stream_facts(container, stream)
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.FFmpegError as exc:
            raise _decode_error(name, exc) from exc
        if first is None:
            raise ValueError(f"{name}: could not decode any frame")
        rotation = _stream_rotation(stream)
        if rotation is None:
            rotation = _frame_rotation(first)
        if fps <= 0:
            raise ValueError(f"{name}: video stream has no frame rate")
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:
            num_frames = max(1, int(round(duration * fps)))
        if duration <= 0:
            duration = num_frames / fps
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            name=name,
            fps=fps,
            num_frames=num_frames,
            duration=duration,
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            start_time=start,
        )


# --------------------------------------------------------------------------- decoding


def _keyframe_interval(stream: Any) -> float:
    """Median keyframe spacing in seconds from the container index (0 if unknown)."""
    try:
        stamps = [e.timestamp for e in stream.index_entries if e.is_keyframe]
    except (AttributeError, av.FFmpegError):
        return 0.0
    if len(stamps) < 2 or stream.time_base is None:
        return 0.0
    return float(np.median(np.diff(stamps)) * stream.time_base)


class _Decoder:
    """Decodes frames nearest to an increasing sequence of target times.

    Seeks to the keyframe before a target when the target is further ahead than
    about one keyframe interval; otherwise decodes forward.
    """

    def __init__(self, container: Any, stream: Any, name: str) -> None:
        self.container, self.stream, self.name = container, stream, name
        self.time_base = stream.time_base
        self.start_pts = stream.start_time or 0
        self.seek_gap = max(_MIN_SEEK_GAP_S, 1.5 * _keyframe_interval(stream))
        self.rotation = _stream_rotation(stream)
        fps, _, duration = _stream_facts(container, stream)
        self.period = 1.0 / fps if fps > 0 else 0.04
        # Ending this much before the claimed duration means the file is truncated.
        self.truncated_before = duration - max(0.5, 3 * self.period)
        self._frames: Iterator[Any] | None = None
        self._prev: tuple[float, Any] | None = None  # last decoded frame before target
        self._pending: tuple[float, Any] | None = None  # first frame after target
        self._eof = False
        self.num_decoded = 0

    def _time(self, frame: Any) -> float:
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:  # no timestamps at all: assume one frame per nominal period
            fps = float(self.stream.average_rate or 25)
            return self.num_decoded / fps
        return float((pts - self.start_pts) * self.time_base)

    def _seek(self, time_s: float) -> None:
        offset = int(math.floor(time_s / self.time_base)) + self.start_pts
        try:
            self.container.seek(max(offset, self.start_pts), stream=self.stream, backward=True)
        except av.FFmpegError as exc:  # unseekable: restart from the beginning
            logger.debug(
                "%s: seek to %.3fs failed (%s); decoding from the start", self.name, time_s, exc
            )
            self.container.seek(self.start_pts, stream=self.stream, backward=True)
        self._frames = None
        self._prev = self._pending = None
        self._eof = False

    def _next(self) -> tuple[float, Any] | None:
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        if self._eof:
            return None
        if self._frames is None:
            self._frames = self.container.decode(self.stream)
        try:
            frame = next(self._frames)
        except StopIteration:
            self._eof = True
            return None
        except av.FFmpegError as exc:
            if self.num_decoded == 0:
                raise _decode_error(self.name, exc) from exc
            logger.warning(
                "%s: decoding stopped early (%s); using frames decoded so far", self.name, exc
            )
            self._eof = True
            return None
        self.num_decoded += 1
        if self.rotation is None:
            self.rotation = _frame_rotation(frame)
        return self._time(frame), frame

    def _check_not_truncated(self, target: float) -> None:
        assert self._prev is not None
        last = self._prev[0]
        if target > last + self.period and last < self.truncated_before:
            raise ValueError(
                f"{self.name}: video data ends at {last:.2f}s but the stream claims "
                f"{self.truncated_before + max(0.5, 3 * self.period):.2f}s; the file is "
                "truncated or corrupt"
            )

    def nearest(self, target: float) -> tuple[float, Any]:
        """The decoded frame with timestamp nearest ``target`` (targets must not decrease)."""
        current = self._prev[0] if self._prev is not None else None
        fresh_seek = False
        if self._frames is None or (current is not None and target - current > self.seek_gap):
            self._seek(target)
            fresh_seek = True
        while True:
            item = self._next()
            if item is None:
                if self._prev is None:
                    if fresh_seek and target > 0:  # seek went past the data: from the start
                        self._seek(0.0)
                        fresh_seek = False
                        continue
                    raise ValueError(f"{self.name}: could not decode any frame")
                self._check_not_truncated(target)
                return self._prev  # past the end: repeat the last frame
            if item[0] >= target:
                self._pending = item  # keep it: it may also be nearest for the next target
                if self._prev is None:
                    if fresh_seek and target > 0 and item[0] - target > self.seek_gap:
                        # Imprecise seek landed after the target; decode from the start.
                        logger.debug(
                            "%s: seek overshot %.3fs; decoding from the start", self.name, target
                        )
                        self._seek(0.0)
                        fresh_seek = False
                        continue
                    return item
                return item if item[0] - target < target - self._prev[0] else self._prev
            self._prev = item

    def frames_at(self, times: Sequence[float]) -> list[np.ndarray]:
        """RGB frames nearest each time in ``times`` (any order, repeats allowed)."""
        order = np.argsort(np.asarray(times, dtype=np.float64), kind="stable")
        out: list[np.ndarray | None] = [None] * len(times)
        last: tuple[Any, np.ndarray] | None = None  # (frame, rgb): converted once per frame
        try:
            for i in order:
                _, frame = self.nearest(float(times[i]))
                if last is None or last[0] is not frame:
                    last = (frame, _to_rgb(frame, self.rotation or 0))
                out[i] = last[1]
        except av.FFmpegError as exc:
            raise _decode_error(self.name, exc) from exc
        return out  # type: ignore[return-value]


def read_frames_at(source: VideoSource, times: Sequence[float]) -> np.ndarray:
    """Decode the frames nearest the given times (seconds), seeking between far-apart times.

    Useful for detection on many keyframes of one long video: one open, one
    forward pass, seeks only where the gap exceeds about a keyframe interval.

    Args:
        source: Path or binary file object.
        times: Times in seconds from the stream start; any order, repeats allowed.
            Times past the end give the last frame; negative times the first.

    Returns:
        ``uint8`` array ``(len(times), H, W, 3)`` RGB, upright.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If the file is not a decodable video or ``times`` is empty / not finite.
    """
    times_arr = np.asarray(times, dtype=np.float64).reshape(-1)
    if times_arr.size == 0 or not np.all(np.isfinite(times_arr)):
        raise ValueError(f"times must be a non-empty sequence of finite seconds, got {times!r}")
    with _open_video(source) as (container, stream, name):
        frames = _Decoder(container, stream, name).frames_at(times_arr.tolist())
    return np.stack(frames)  # (N, H, W, 3)


def read_clip(
    source: VideoSource,
    center_time: float,
    num_frames: int,
    frame_stride: int,
    *,
    info: VideoInfo | None = None,
    placement: str = "centre",
) -> np.ndarray:
    """Read a clip of ``num_frames`` frames, ``frame_stride`` apart, centred on ``center_time``
    (or ending at it: ``placement="causal"``).

    The key frame is :func:`keyframe_index` of ``center_time``; indices come from
    :func:`clip_indices_at` (edge frames repeated at the video's ends).
    Only the frames from the keyframe before the first needed frame up to the
    last needed frame are decoded.

    Args:
        source: Path or binary file object.
        center_time: Centre time in seconds from the stream start.
        num_frames: Clip length T.
        frame_stride: Step between frames, in frames of the nominal frame rate.
        info: The video's :func:`probe` result, to skip probing when already known.
        placement: ``"centre"`` or ``"causal"`` (see :mod:`cofin_sdk.io.clip_rule`).

    Returns:
        ``uint8`` array ``(T, H, W, 3)`` RGB, upright.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If the file is not a decodable video or the arguments are invalid.
    """
    if not math.isfinite(center_time):
        raise ValueError(f"center_time must be finite seconds, got {center_time}")
    if info is None:
        info = probe(source)
    indices = clip_indices_at(
        center_time, info.fps, info.num_frames, num_frames, frame_stride, placement
    )
    times = frame_times(indices, info.fps)  # nearest decoded frame wins (VFR-safe)
    with _open_video(source) as (container, stream, name):
        frames = _Decoder(container, stream, name).frames_at(times.tolist())
    return np.stack(frames)  # (T, H, W, 3)


def iter_frames(
    source: VideoSource,
    *,
    start: float = 0.0,
    end: float | None = None,
    step: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Stream frames with bounded memory.

    Args:
        source: Path or binary file object.
        start: First time (seconds from the stream start) to yield from.
        end: Stop before this time (exclusive); ``None`` for the end of the video.
        step: If given, yield the frame nearest each of ``start, start + step, ...``
            (a frame may repeat if ``step`` is shorter than the frame period);
            otherwise yield every frame with ``start <= t < end``.

    Yields:
        ``(t, frame)`` with ``t`` the frame's timestamp in seconds and ``frame`` an
        RGB ``uint8`` ``(H, W, 3)`` upright array.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If the file is not a decodable video or ``step <= 0``.
    """
    if step is not None and not step > 0:
        raise ValueError(f"step must be > 0 seconds, got {step}")
    with _open_video(source) as (container, stream, name):
        decoder = _Decoder(container, stream, name)
        try:
            if step is not None:
                yield from _iter_stepped(decoder, start, end, step)
                return
            yield from _iter_all(decoder, start, end)
        except av.FFmpegError as exc:
            raise _decode_error(name, exc) from exc


def _iter_all(
    decoder: _Decoder, start: float, end: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    if start > 0:
        decoder._seek(start)
    last: float | None = None
    while (item := decoder._next()) is not None:
        time_s, frame = item
        last = time_s
        if time_s < start - 1e-6:
            continue
        if end is not None and time_s >= end:
            return
        yield time_s, _to_rgb(frame, decoder.rotation or 0)
    if last is None:
        if start > 0:
            return  # nothing at or after ``start`` (e.g. start beyond the end)
        raise ValueError(f"{decoder.name}: could not decode any frame")
    decoder._prev = (last, None)
    decoder._check_not_truncated(math.inf)


def _iter_stepped(
    decoder: _Decoder, start: float, end: float | None, step: float
) -> Iterator[tuple[float, np.ndarray]]:
    period = 1.0 / float(decoder.stream.average_rate or 25)
    k = 0
    while True:
        target = start + k * step
        if end is not None and target >= end:
            return
        time_s, frame = decoder.nearest(target)
        if decoder._eof and decoder._pending is None and target - time_s >= period:
            return  # past the last frame
        yield time_s, _to_rgb(frame, decoder.rotation or 0)
        k += 1
