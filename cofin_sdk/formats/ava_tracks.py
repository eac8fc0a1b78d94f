"""AVA person identities: boxes grouped by video and keyframe, with their person ids.

Column 8 of AVA's ground truth is the person id (one per person and keyframe, repeated on
every action row of that box). This module groups such rows into per-keyframe boxes and
ids: what ``AvaCsvBoxes(..., person_ids=True)`` gives the tracker (ids kept) and what the
tracking evaluation (``training.evaluation.tracking``) scores tracks against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from .ava import AvaRows

__all__ = ["Frames", "frames_from_rows", "ground_truth_frames"]

#: ``{video_id: {keyframe_time: (int64 ids [n], float boxes [n, 4])}}`` (normalised boxes).
Frames = dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]


def frames_from_rows(
    video_ids: Iterable[str], times: Any, boxes: Any, ids: Any, decimals: int = 4
) -> Frames:
    """Groups per-row boxes and ids by video and keyframe; rows repeating a box are kept once.

    Args:
        video_ids: ``[N]`` video of each row.
        times: ``[N]`` keyframe time of each row (rounded to ``decimals`` for grouping).
        boxes: ``[N, 4]`` boxes (one unit for ground truth and predictions: normalised).
        ids: ``[N]`` person or track ids; ``-1`` rows are dropped.
        decimals: Rounding of times used to group rows into keyframes.

    Example:
        >>> frames = frames_from_rows(["v", "v"], [2, 2], [[0, 0, 0.5, 1]] * 2, [7, 7])
        >>> frames["v"][2.0][0].tolist()
        [7]
    """
    grouped: dict[str, dict[float, dict[int, np.ndarray]]] = defaultdict(dict)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    for video, time, box, identity in zip(
        video_ids, np.asarray(times, np.float64), boxes, np.asarray(ids, np.int64), strict=True
    ):
        if identity >= 0:
            grouped[str(video)].setdefault(round(float(time), decimals), {})[int(identity)] = box
    return {
        video: {
            time: (np.array(list(by_id), np.int64), np.array(list(by_id.values())).reshape(-1, 4))
            for time, by_id in sorted(keyframes.items())
        }
        for video, keyframes in grouped.items()
    }


def ground_truth_frames(rows: AvaRows, time_offset: float = 0.0) -> Frames:
    """The person boxes of AVA ground truth (one per person and keyframe), by person id.

    Args:
        rows: Ground truth read with ``read_ava_csv(path, kind="groundtruth")``.
        time_offset: Subtracted from the CSV times (900 for AVA's 15-minute cuts).

    Raises:
        ValueError: If the rows carry no person ids (column 8).
    """
    keep = ~rows.markers
    if keep.any() and (rows.person_ids[keep] < 0).all():
        raise ValueError("the ground truth has no person ids (AVA column 8)")
    videos = rows.video_names[rows.video_codes]
    return frames_from_rows(
        videos[keep], rows.timestamps[keep] - time_offset, rows.boxes[keep], rows.person_ids[keep]
    )
