"""Live video input: a reader thread decodes a stream into a bounded ring of frames.

:func:`open_stream` checks and opens the source in the caller's thread (so a bad URL, an
unsupported scheme or an unreachable server fails with one line before any thread
starts), then :class:`StreamReader` decodes it in its own thread into a :class:`FrameRing`
holding at most ``capacity`` frames with their presentation times. Memory is the ring's,
whatever the stream's length.

Sources: anything PyAV (FFmpeg) opens (``rtsp://``, ``rtmp://``, ``http(s)://``,
``tcp://``, ``udp://``, ``srt://``, a file path, a V4L2 webcam ``/dev/videoN``, a binary
pipe or file object) or an iterable of ``(uint8 RGB frame (H, W, 3), time_s)``.

Time is the stream's presentation time: ``(pts - first_pts) * time_base`` seconds, so the
first frame is at 0 as in :mod:`cofin_sdk.io.video`; the wall time (``time.time()``) of each
frame's arrival is kept beside it for latency.

Faults: the end of the stream closes the ring; a read that stalls longer than
``timeout_s`` (FFmpeg's interrupt callback) either reconnects (``reconnect`` attempts,
logged, the timeline continues) or closes the ring with a ``TimeoutError``; packets that
fail to decode are skipped and counted (``corrupt_packets``, a warning each).
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np

from cofin_sdk.io.video import _frame_rotation, _stream_rotation, _to_rgb

logger = logging.getLogger(__name__)

__all__ = [
    "STREAM_SCHEMES",
    "FrameRing",
    "StreamFrame",
    "StreamReader",
    "check_source",
    "open_stream",
]

#: URL schemes handed to FFmpeg's network protocols.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "tcp", "udp", "srt", "file")
#: FFmpeg demuxer options for live input: probe at most ~1 s before the first frame.
#: (``fflags=nobuffer`` is NOT set: on MPEG-TS over TCP it lost the stream's last half.)
_LIVE_OPTIONS = {"analyzeduration": "1000000", "probesize": "1000000"}


@dataclasses.dataclass(frozen=True)
class StreamFrame:
    """One decoded frame: presentation time (s), RGB ``uint8 (H, W, 3)``, arrival wall time."""

    time: float
    image: np.ndarray
    arrival: float


class FrameRing:
    """A bounded, thread-safe buffer of the newest frames, in time order.

    ``put`` evicts the oldest frame when full, except frames at or after :attr:`keep_from`
    when it is set (by a consumer that must see every keyframe): then ``put`` waits for room.

    Args:
        capacity: Frames held at most (>= 2).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2 frames, got {capacity}")
        self.capacity = capacity
        self._frames: collections.deque[StreamFrame] = collections.deque()
        self._cond = threading.Condition()
        self.keep_from: float | None = None  # None: evict freely
        self.closed = False
        self.error: BaseException | None = None
        self.last_event = time.monotonic()  # a frame, a reconnect attempt or the end

    def put(self, frame: StreamFrame, stop: threading.Event) -> None:
        """Appends ``frame``; waits while full of frames still needed (until ``stop``)."""
        with self._cond:
            while len(self._frames) >= self.capacity:
                keep = self.keep_from
                if keep is None or self._frames[0].time < keep or stop.is_set():
                    self._frames.popleft()
                else:
                    self._cond.wait(0.1)
            self._frames.append(frame)
            self.last_event = time.monotonic()
            self._cond.notify_all()

    def touch(self) -> None:
        """Records activity without a frame (a reconnect attempt)."""
        with self._cond:
            self.last_event = time.monotonic()

    def close(self, error: BaseException | None = None) -> None:
        """No more frames: the end of the stream, or ``error``."""
        with self._cond:
            self.closed, self.error = True, error
            self.last_event = time.monotonic()
            self._cond.notify_all()

    def set_keep_from(self, time_s: float | None) -> None:
        """Frames at or after ``time_s`` may not be evicted (``None``: evict freely)."""
        with self._cond:
            self.keep_from = time_s
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Waits until ``predicate()`` (called under the lock) or ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def latest_time(self) -> float:
        """Time of the newest frame (``-inf`` when empty); call under :meth:`wait` or alone."""
        return self._frames[-1].time if self._frames else -math.inf

    def nearest(self, times: np.ndarray) -> list[StreamFrame]:
        """The held frame nearest each time (a tie goes to the earlier frame, as the file
        reader's), by the rule of :mod:`cofin_sdk.io.video`'s decoder."""
        with self._cond:
            frames = list(self._frames)
        stamps = [f.time for f in frames]
        out = []
        for target in times.tolist():
            i = bisect.bisect_left(stamps, target)
            if i == 0:
                out.append(frames[0])
            elif i == len(frames):
                out.append(frames[-1])
            else:
                after, before = frames[i], frames[i - 1]
                out.append(after if after.time - target < target - before.time else before)
        return out

    def __len__(self) -> int:
        return len(self._frames)


def check_source(source: Any) -> tuple[str, Any, dict[str, Any]]:
    """``(name, av.open target, av.open keywords)`` of a PyAV source; one-line errors."""
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        return (name if isinstance(name, str) else "<pipe>"), source, {}
    text = os.fspath(source)
    if text.startswith("/dev/video"):
        if not Path(text).exists():
            raise FileNotFoundError(f"webcam {text} not found (no such V4L2 device)")
        return text, text, {"format": "v4l2"}
    scheme = urlsplit(text).scheme.lower()
    if len(scheme) > 1:  # "C:\\video.mp4" has a one-letter scheme: a path
        if scheme not in STREAM_SCHEMES:
            raise ValueError(
                f"source {text!r}: unsupported scheme {scheme}://; use one of "
                f"{', '.join(s + '://' for s in STREAM_SCHEMES)}, a file path, /dev/videoN, "
                "a binary pipe or an iterator of (frame, time_s)"
            )
        return text, text, {"options": dict(_LIVE_OPTIONS)}
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {text}")
    if path.is_dir():
        raise ValueError(f"{text}: is a directory, expected a video file or stream URL")
    return text, text, {}


class StreamReader:
    """Decodes a source in a thread into a :class:`FrameRing` (see :func:`open_stream`).

    Attributes:
        name: The source as given (for messages).
        fps: Nominal frame rate (the stream's, or the caller's ``fps``).
        ring: The frames.
        corrupt_packets: Packets skipped because they did not decode.
        reconnects: Reconnections made after stalls or read errors.
    """

    def __init__(
        self,
        name: str,
        fps: float,
        capacity: int,
        timeout_s: float,
        reconnect: int,
        opener: Callable[[], Any] | None,
        container: Any = None,
        frames: Iterable[tuple[np.ndarray, float]] | None = None,
    ) -> None:
        self.name, self.fps = name, fps
        self.timeout_s, self.reconnect = timeout_s, reconnect
        self.ring = FrameRing(capacity)
        self.corrupt_packets = 0
        self.reconnects = 0
        self._opener, self._container, self._frames = opener, container, frames
        self.self_timed = opener is not None  # FFmpeg times out stalled reads itself
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cofin-stream-{name}", daemon=True)
        self._origin: float | None = None  # (pts * time_base) of the first frame, seconds
        self._offset = 0.0  # added to times after a reconnect: the timeline continues

    def start(self) -> StreamReader:
        self._thread.start()
        return self

    def close(self, join_timeout: float | None = None) -> None:
        """Stops the thread and releases the source (waits up to ``join_timeout``, default
        ``timeout_s + 1`` s: a read blocked on a stalled network returns within ``timeout_s``)."""
        self._stop.set()
        self.ring.set_keep_from(None)  # a waiting put() returns
        if self._thread.ident is None:  # never started: release the source here
            if self._container is not None:
                self._container.close()
                self._container = None
            return
        self._thread.join(self.timeout_s + 1.0 if join_timeout is None else join_timeout)
        if self._thread.is_alive():
            logger.warning("%s: the reader thread is still blocked in a read", self.name)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        error: BaseException | None = None
        try:
            if self._frames is not None:
                self._read_iterable(self._frames)
            else:
                self._read_containers()
        except BaseException as exc:  # handed to the consumer, never lost in the thread
            error = exc
        finally:
            if self._container is not None:
                self._container.close()
                self._container = None
            self.ring.close(None if self._stop.is_set() else error)

    def _read_iterable(self, frames: Iterable[tuple[np.ndarray, float]]) -> None:
        for image, time_s in frames:
            if self._stop.is_set():
                return
            self._put(np.asarray(image), float(time_s))

    def _read_containers(self) -> None:
        """Decodes until the end; after a stall or read error, reopens the URL up to
        ``reconnect`` times (a failed reopen uses an attempt too, then waits ``min(1 s,
        timeout_s)``: a camera that is rebooting refuses connections for a while)."""
        attempts = 0
        while not self._stop.is_set():
            try:
                if self._container is None:
                    self._container = self._opener()  # a reconnection
                self._decode(self._container)
                return  # the end of the stream
            except (av.FFmpegError, OSError) as exc:  # OSError: ConnectionError, TimeoutError
                if self._stop.is_set():
                    return
                if attempts >= self.reconnect or self._opener is None:
                    raise self._stall_error(exc) from exc
                attempts += 1
                self.reconnects += 1
                logger.warning(
                    "%s: %s; reconnecting (attempt %d of %d)",
                    self.name,
                    exc,
                    attempts,
                    self.reconnect,
                )
                self._release_for_reconnect()
                if attempts > 1:
                    self._stop.wait(min(1.0, self.timeout_s))

    def _release_for_reconnect(self) -> None:
        """Closes the old connection; the next stream's times continue the timeline."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self.ring.touch()
        self._offset = self.ring.latest_time() + 1.0 / self.fps
        self._origin = None

    def _stall_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, (av.ExitError, TimeoutError)):
            return TimeoutError(
                f"{self.name}: no data for {self.timeout_s:g} s (timeout_s={self.timeout_s:g}); "
                "the stream stalled (pass reconnect=N to retry)"
            )
        return ConnectionError(f"{self.name}: reading the stream failed ({exc})")

    def _decode(self, container: Any) -> None:
        stream = container.streams.video[0]
        rotation = _stream_rotation(stream)
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            if packet.is_corrupt:  # flagged by the demuxer (lost or damaged transport packets)
                self._skip("flagged corrupt by the demuxer")
                continue
            try:
                frames = packet.decode()
            except av.InvalidDataError as exc:
                self._skip(str(exc))
                continue
            for frame in frames:
                if rotation is None:
                    rotation = _frame_rotation(frame)
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None or frame.time_base is None:
                    continue
                self._put(_to_rgb(frame, rotation), float(pts * frame.time_base))

    def _skip(self, why: str) -> None:
        """Counts a skipped packet; warns at the 1st, 10th, 100th ... (no log flood)."""
        self.corrupt_packets += 1
        if math.log10(self.corrupt_packets).is_integer():
            logger.warning(
                "%s: skipped a corrupt packet (%s); %d so far",
                self.name,
                why,
                self.corrupt_packets,
            )

    def _put(self, image: np.ndarray, time_s: float) -> None:
        if self._origin is None:
            self._origin = time_s
        self.ring.put(
            StreamFrame(self._offset + time_s - self._origin, image, time.time()), self._stop
        )


def _open_container(name: str, target: Any, kwargs: dict[str, Any], timeout_s: float) -> Any:
    """``av.open`` with ``timeout_s`` for each read; opening also probes about 1 s of the
    stream (``_LIVE_OPTIONS``), so it may take ``timeout_s + 2`` s. One-line errors."""
    open_timeout = timeout_s + 2.0
    try:
        container = av.open(target, mode="r", timeout=(open_timeout, timeout_s), **kwargs)
    except av.ExitError as exc:
        raise TimeoutError(f"{name}: no answer within {open_timeout:g} s (timeout_s + 2)") from exc
    except (av.FFmpegError, OSError) as exc:
        raise ConnectionError(f"cannot open stream {name}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise ValueError(f"{name}: no video stream")
    container.streams.video[0].thread_type = "AUTO"
    return container


def _stream_fps(container: Any, fps: float | None, name: str) -> float:
    if fps is not None:
        return fps
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or not math.isfinite(float(rate)) or float(rate) <= 0:
        container.close()
        raise ValueError(f"{name}: the stream states no frame rate; pass fps=")
    return float(rate)


def open_stream(
    source: Any,
    *,
    capacity: int = 64,
    timeout_s: float = 10.0,
    reconnect: int = 0,
    fps: float | None = None,
) -> StreamReader:
    """Checks and opens ``source`` in this thread; returns its :class:`StreamReader`, not
    started yet (``start()`` it, or ``close()`` it to release the source).

    Args:
        source: URL (``rtsp://``, ``http(s)://``, ``tcp://``, ``udp://`` ...), file path,
            ``/dev/videoN``, binary file object / pipe, or iterable of ``(frame, time_s)``.
        capacity: Ring size in frames (may be changed before ``start()``).
        timeout_s: Seconds a read (or the opening) may stall.
        reconnect: Reopen a URL this many times after a stall or read error.
        fps: Nominal frame rate; required for an iterable, read from the stream otherwise.

    Raises:
        ValueError: Unsupported scheme, no video stream, no frame rate, bad ``fps``.
        FileNotFoundError: A missing file or webcam.
        ConnectionError, TimeoutError: The source cannot be opened.
        TypeError: ``source`` is none of the above.
    """
    if fps is not None and (
        isinstance(fps, bool)
        or not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0)
    ):
        raise ValueError(f"fps={fps!r}: must be a positive number")
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
        name, target, kwargs = check_source(source)
        container = _open_container(name, target, kwargs, timeout_s)
        fps = _stream_fps(container, fps, name)
        is_url = isinstance(target, str) and "options" in kwargs
        opener = (lambda: _open_container(name, target, kwargs, timeout_s)) if is_url else None
        return StreamReader(name, fps, capacity, timeout_s, reconnect, opener, container)
    if isinstance(source, (Iterable, Iterator)) and not isinstance(source, (bytes, np.ndarray)):
        if fps is None:
            raise ValueError("fps= is required when the stream is an iterator of (frame, time_s)")
        return StreamReader("<frames>", float(fps), capacity, timeout_s, 0, None, frames=source)
    raise TypeError(
        "source must be a stream URL, a file path, /dev/videoN, a binary file object or an "
        f"iterable of (uint8 frame, time_s), got {type(source).__name__}"
    )
