"""OpenCV drawing of detections and annotated-video writing (used by ``cofin_sdk.results``).

Frames are RGB ``uint8 (H, W, 3)`` throughout, so colours here are RGB tuples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from cofin_sdk.results import Detections

logger = logging.getLogger(__name__)

# Colour-blind-friendly palette (Okabe-Ito), RGB.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (255, 255, 255),
)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_frame(frame: Any, frame_size: tuple[int, int]) -> np.ndarray:
    frame = np.asarray(frame)
    width, height = frame_size
    if frame.dtype != np.uint8 or frame.shape != (height, width, 3):
        raise ValueError(
            f"frame must be uint8 (H, W, 3) = ({height}, {width}, 3) to match frame_size "
            f"{frame_size}, got {frame.dtype} {frame.shape}"
        )
    return frame


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (ITU-R BT.601 luma)."""
    luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _draw_label(
    image: np.ndarray,
    text: str,
    x: int,
    y_top: int,
    y_bottom: int,
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    """Draws ``text`` on a filled box above ``y_top`` (or inside the box if no room)."""
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
    pad = max(2, text_h // 4)
    label_h = text_h + baseline + 2 * pad
    height, width = image.shape[:2]
    top = y_top - label_h if y_top - label_h >= 0 else min(y_top, max(0, y_bottom - label_h))
    left = int(np.clip(x, 0, max(0, width - text_w - 2 * pad)))
    cv2.rectangle(image, (left, top), (left + text_w + 2 * pad, top + label_h), color, cv2.FILLED)
    cv2.putText(
        image,
        text,
        (left + pad, top + pad + text_h),
        _FONT,
        font_scale,
        _text_color(color),
        thickness,
        cv2.LINE_AA,
    )


def draw_detections(
    frame: np.ndarray,
    boxes: np.ndarray,
    labels: Sequence[str],
    frame_size: tuple[int, int],
    colors_by: np.ndarray,
    thickness: int | None = None,
    font_scale: float | None = None,
) -> np.ndarray:
    """Returns a copy of ``frame`` with ``boxes [N, 4]`` (pixels) and one label line each."""
    image = _check_frame(frame, frame_size).copy()
    short_side = min(frame_size)
    thickness = thickness or max(1, round(short_side / 240))
    font_scale = font_scale or max(0.35, short_side / 720)
    text_thickness = max(1, thickness // 2)
    for box, label, key in zip(boxes, labels, colors_by, strict=True):
        color = PALETTE[int(key) % len(PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        x2, y2 = min(x2, frame_size[0] - 1), min(y2, frame_size[1] - 1)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        if label:
            _draw_label(image, label, x1, y1, y2, color, font_scale, text_thickness)
    return image


def _is_file_source(video: Any) -> bool:
    return isinstance(video, (str, os.PathLike)) or hasattr(video, "read")


def _timed_frames(
    video: Any, fps: float | None
) -> tuple[Iterator[tuple[float, np.ndarray]], float]:
    """``((t, frame) iterator, fps)`` for a file source or an array/iterable of frames."""
    if _is_file_source(video):
        from cofin_sdk.io import video as video_io

        if fps is None:
            fps = video_io.probe(video).fps
            if hasattr(video, "seek"):
                video.seek(0)
        return video_io.iter_frames(video), fps
    if fps is None:
        raise ValueError("fps is required when video is an array or iterable of frames")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames: Iterable[np.ndarray] = video
    return ((index / fps, frame) for index, frame in enumerate(frames)), fps


def save_annotated_video(
    detections: Detections,
    path: Path,
    video: Any,
    fps: float | None,
    *,
    tolerance: float,
    top_k: int,
    threshold: float | None,
    min_height: int = 0,
    faststart: bool = False,
) -> Path:
    """Writes every frame of ``video`` with the detections of the nearest keyframe.

    Frames lower than ``min_height`` are upscaled by an integer factor first, so labels
    stay readable on small videos. ``faststart`` as for :func:`cofin_sdk.io.video.write_video`.
    """
    from cofin_sdk.io.video import write_video

    timed, fps = _timed_frames(video, fps)
    # Pre-group once: per-frame lookups then cost a searchsorted, not a scan of all rows.
    groups = detections.keyframes()
    times = np.array([t for t, _ in groups], dtype=np.float64)
    labels = [(g.boxes, *g.drawing_keys(top_k, threshold)) for _, g in groups]

    width, height = detections.frame_size
    scale = max(1, -(-min_height // height)) if min_height else 1
    size = (width * scale, height * scale)

    def annotated() -> Iterator[np.ndarray]:
        for time, frame in timed:
            frame = _check_frame(frame, detections.frame_size)
            if scale > 1:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
            nearest = int(np.argmin(np.abs(times - time))) if len(times) else -1
            if nearest < 0 or abs(times[nearest] - time) > tolerance:
                yield frame
                continue
            boxes, texts, keys = labels[nearest]
            yield draw_detections(frame, boxes * scale, texts, size, keys)

    count = write_video(path, annotated(), fps, faststart=faststart)
    logger.info("wrote %d annotated frames to %s", count, path)
    return path
