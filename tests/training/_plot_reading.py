"""Reads bar charts back from their PNG (shared by the plot tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from training.evaluation.plots import GROUP_COLOURS


def read_bars(path: Path) -> tuple[tuple[int, int], list[tuple[str, int]]]:
    """``(width, height)`` of a saved bar chart and its bars left to right as
    ``(group, signed height in pixels)``.

    A bar is a region of one group colour that stands on (or hangs from) the black
    y = 0 line; legend handles share the colours but touch no such line.
    """
    image = np.asarray(Image.open(path).convert("RGB")).astype(np.int64)  # (H, W, 3)
    black = (image.max(axis=2) < 80).sum(axis=1) > image.shape[1] / 2  # (H,) long black lines
    black_rows = set(np.flatnonzero(black).tolist())
    bars = []
    for group, colour in GROUP_COLOURS.items():
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        mask = (image == rgb).all(axis=2).astype(np.uint8)
        # 4-connected regions, as a bar is a filled rectangle; row 0 is the background.
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        for left, top, _, height, _ in stats[1:].tolist():
            bottom = top + height
            if black_rows & set(range(bottom, bottom + 3)):  # stands on the line
                bars.append((left, group, height))
            elif black_rows & set(range(top - 3, top)):  # hangs below it
                bars.append((left, group, -height))
    image_height, image_width = image.shape[:2]
    return (image_width, image_height), [(group, height) for _, group, height in sorted(bars)]
