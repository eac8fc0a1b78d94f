"""What the client set runs, shared by the fixture builder (torch model, full environment)
and the tests (export / Triton, client environment), so both answer the same questions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _fixtures import SERVED_HEADS

HEADS = SERVED_HEADS
FPS, SIZE = 25, (96, 64)
#: Given person boxes (pixels of the 96 x 64 video) per keyframe time.
BOXES = {1.0: [[4.0, 6.0, 40.0, 60.0]], 2.0: [[4.0, 6.0, 40.0, 60.0], [50.0, 2.0, 90.0, 62.0]]}


def make_video(path: Path, seconds: float = 3.0) -> Path:
    """A 96 x 64 H.264 clip: coloured blocks moving over a gradient (PyAV, torch-free)."""
    from cofin_sdk.io.writer import write_video

    W, H = SIZE
    y, x = np.mgrid[0:H, 0:W]
    background = np.stack([x * 255 // W, y * 255 // H, np.full_like(x, 90)], -1).astype(np.uint8)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(seconds * FPS)):
            frame = background.copy()
            left = (2 * i) % (W - 20)
            frame[10:40, left : left + 20] = (250, 40, 40)
            frame[30:60, W - 20 - left : W - left] = (40, 40, 250)
            yield frame

    write_video(path, frames(), FPS)
    return path


def run_cases(detector: Any, video: Path) -> dict[str, np.ndarray]:
    """detect / classify / analyze on ``video``: the arrays a backend must reproduce."""
    detections = detector.detect(str(video), boxes=BOXES)
    top = detector.classify(str(video), head="kinetics", top_k=3, num_clips=2)
    analysis = detector.analyze(str(video), timestamps=[1.0, 2.0], boxes=BOXES)
    return {
        "detect_scores": detections.action_scores,
        "detect_boxes": detections.boxes,
        "classify_probabilities": top.clip_probabilities,
        "analyze_scores": analysis.detections.action_scores,
        "analyze_kinetics": analysis.classifications["kinetics"].clip_probabilities,
    }
