"""The demo's "Live" tab: the browser's webcam through :meth:`cofin_sdk.Detector.stream`.

Gradio streams webcam frames to :meth:`LiveSession.push` every ``FRAME_EVERY_S`` seconds;
each browser session owns one :class:`LiveSession`, whose thread iterates a
``Detector.stream`` over those frames (an iterable of ``(frame, time_s)``, causal
keyframes, ``drop="latest"``). ``push`` never waits on the model: it hands the frame over
(dropping it when the hand-over queue is full) and returns the newest result drawn on its
key frame, with one line of text. People are tracked over the session (one tracker per
stream, every webcam frame used for association), so boxes keep their colour and ``#id``.
No model logic here.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["FRAME_EVERY_S", "LiveSession", "live_summary"]

FRAME_EVERY_S = 0.2  # webcam frames sent by the browser: 5 per second
KEYFRAME_EVERY_S = 1.0
_END = None  # queue marker: the session is over


def live_summary(result: Any) -> str:
    """One line: keyframe time, people, top actions, latency, drops, top class per head."""
    parts = [f"t = {result.time:.1f} s"]
    if result.detections is not None:
        parts.append(f"{len(result.detections)} people")
        tracked = result.detections.track_ids[result.detections.track_ids >= 0]
        if len(tracked):
            parts.append("tracks " + ", ".join(f"#{i}" for i in tracked.tolist()))
        labels = [label for label in result.detections.labels(2) if label]
        if labels:
            parts.append("; ".join(labels))
    parts.append(f"latency {result.latency:.2f} s")
    if result.dropped:
        parts.append(f"{result.dropped} keyframes dropped")
    for head, classes in result.classifications.items():
        name, prob = classes.top_k(1)[0]
        parts.append(f"{head}: {name} {prob:.2f}")
    return " | ".join(parts)


class LiveSession:
    """One browser session's live stream (made on its first frame, closed with the session).

    Args:
        detector: The demo's Detector.
        threshold: Actions below it are not drawn.
    """

    def __init__(self, detector: Any, threshold: float = 0.3) -> None:
        self.detector, self.threshold = detector, threshold
        self._track = any(spec.task == "detection" for spec in detector.heads.values())
        self._frames: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(maxsize=8)
        self._start = time.monotonic()
        self._latest: tuple[np.ndarray, str] | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="cofin-live", daemon=True)
        self._thread.start()

    def _source(self) -> Iterator[tuple[np.ndarray, float]]:
        while (item := self._frames.get()) is not _END:
            yield item

    def _run(self) -> None:
        try:
            with self.detector.stream(
                self._source(),
                fps=1.0 / FRAME_EVERY_S,
                every=KEYFRAME_EVERY_S,
                keyframe="causal",
                drop="latest",
                threshold=self.threshold,
                timeout_s=30.0,
                track=self._track,
                track_fps=1.0 / FRAME_EVERY_S,  # every webcam frame the browser sends
            ) as live:
                for result in live:
                    frame = result.frame
                    if result.detections is not None:
                        frame = result.detections.draw(frame)
                    self._latest = (frame, live_summary(result))
        except Exception as exc:  # shown in the page, never a traceback
            logger.warning("live session ended: %s", exc)
            self._error = str(exc)

    def push(self, frame: np.ndarray | None) -> tuple[np.ndarray | None, str]:
        """Hands a webcam frame to the stream; returns the newest annotated key frame and text."""
        if frame is not None and self._error is None:
            item = (np.ascontiguousarray(frame), time.monotonic() - self._start)
            with contextlib.suppress(queue.Full):  # the reader is behind: drop this frame
                self._frames.put_nowait(item)
        if self._error is not None:
            return None, f"stream stopped: {self._error}"
        if self._latest is None:
            return None, "waiting for the first keyframe ..."
        return self._latest

    def close(self) -> None:
        """Ends the stream and its thread."""
        with contextlib.suppress(queue.Full):
            self._frames.put(_END, timeout=1.0)
        self._thread.join(5.0)
