"""Readers for the AVA v2.2 / AVA-Kinetics annotation CSVs and the keyframe table
built from them (see ../shared/AVA_PROTOCOL.md for the formats).

All boxes here are normalised ``x1, y1, x2, y2`` in [0, 1] of the original frame.
The CSV rules live in :mod:`cofin_sdk.formats.ava` (one reader for training, evaluation and
the SDK), the box rule in :mod:`cofin_sdk.formats.boxes`; the label map is read by
:func:`cofin_sdk.formats.ava.read_label_map` (both pbtxt forms).

Example:
    >>> gt = read_ground_truth("ava_val_v2.2.csv")                      # doctest: +SKIP
    >>> dets = read_person_boxes("ava_val_predicted_boxes.csv", 0.8)    # doctest: +SKIP
    >>> frames = build_keyframes(gt, dets, class_ids=list(range(1, 81)), boxes="detected")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cofin_sdk.formats.ava import (
    read_ava_csv,
    read_exclusions,
    read_person_boxes_csv,
    timestamp_key,
)
from cofin_sdk.formats.boxes import box_iou, clip_boxes

logger = logging.getLogger(__name__)

KeyframeKey = tuple[str, "int | float"]
BoxSource = Literal["gt", "detected", "both"]
BOX_SOURCES: tuple[str, ...] = ("gt", "detected", "both")

__all__ = [
    "BOX_SOURCES",
    "GroundTruthBox",
    "Keyframe",
    "box_iou",
    "build_keyframes",
    "label_detections",
    "read_excluded_timestamps",
    "read_ground_truth",
    "read_person_boxes",
]


@dataclass
class GroundTruthBox:
    """One annotated person on a keyframe.

    Attributes:
        box: Normalised ``(x1, y1, x2, y2)``.
        action_ids: Label-map ids of the person's actions (one CSV row each).
        person_id: AVA person id (``-1`` when the column is absent).
    """

    box: tuple[float, float, float, float]
    action_ids: set[int] = field(default_factory=set)
    person_id: int = -1


@dataclass
class Keyframe:
    """One sample of a detection dataset: a keyframe with its person boxes.

    Attributes:
        video_id: AVA movie id or YouTube id (AVA-Kinetics).
        timestamp: Keyframe second (of the movie / of the YouTube video).
        boxes: ``float32[N, 4]`` normalised boxes.
        targets: ``float32[N, C]`` multi-hot targets (index = position in ``class_ids``).
        scores: ``float32[N]`` box scores (1 for ground-truth boxes).
    """

    video_id: str
    timestamp: int | float
    boxes: np.ndarray
    targets: np.ndarray
    scores: np.ndarray


def read_ground_truth(path: str | os.PathLike[str]) -> dict[KeyframeKey, list[GroundTruthBox]]:
    """Read an AVA-format ground-truth CSV (``ava_{train,val}_v2.2.csv``, AVA-Kinetics).

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id[, person_id]`` with one row
    per (person, action); rows sharing a keyframe, box (to 4 decimals) and person id are
    merged into one person. A row with only ``video_id, timestamp`` (2020 form) marks a
    keyframe without actions. Rules and errors are those of
    :func:`cofin_sdk.formats.ava.read_ava_csv`; boxes are clipped to [0, 1].

    Args:
        path: The CSV file (no header).

    Returns:
        ``{(video_id, timestamp): [GroundTruthBox, ...]}`` in file order (keyframe-only
        rows last); ``timestamp`` is an ``int`` when integral.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: A malformed row (``"<path>:<line>: <reason>"``).
    """
    rows = read_ava_csv(path, kind="groundtruth", allow_markers=True)
    boxes = clip_boxes(rows.boxes, normalized=True)
    videos = rows.video_names[rows.video_codes].tolist()
    stamps = [timestamp_key(t) for t in rows.timestamps.tolist()]
    persons: dict[KeyframeKey, dict[tuple, GroundTruthBox]] = {}
    for video, stamp, box, rounded, action, person_id, marker in zip(
        videos, stamps, boxes.tolist(), np.round(boxes, 4).tolist(), rows.labels.tolist(),
        rows.person_ids.tolist(), rows.markers.tolist(),
    ):  # fmt: skip
        keyframe = persons.setdefault((video, stamp), {})
        if marker:
            continue  # a keyframe without actions (2020 form)
        person = keyframe.setdefault(
            (tuple(rounded), person_id), GroundTruthBox(box=tuple(box), person_id=person_id)
        )
        person.action_ids.add(action)
    return {key: list(group.values()) for key, group in persons.items()}


def read_excluded_timestamps(path: str | os.PathLike[str]) -> set[KeyframeKey]:
    """Read ``ava_{train,val}_excluded_timestamps_v2.2.csv`` (``video_id, timestamp``).

    Returns:
        ``{(video_id, timestamp)}`` with ``timestamp`` an ``int`` when integral.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: A malformed row (``"<path>:<line>: <reason>"``).
    """
    return {(video, timestamp_key(seconds)) for video, seconds in read_exclusions(path)}


def read_person_boxes(
    path: str | os.PathLike[str], min_score: float = 0.0
) -> dict[KeyframeKey, tuple[np.ndarray, np.ndarray]]:
    """Read a person-detector CSV: ``video_id, timestamp, x1, y1, x2, y2, [action], score``.

    :func:`cofin_sdk.formats.ava.read_person_boxes_csv` (one box per repeated box, with
    its highest score; clipped; zero-area boxes dropped), minus empty keyframes.

    Args:
        path: The CSV file (no header).
        min_score: Keep boxes with ``score >= min_score``.

    Returns:
        ``{(video_id, timestamp): (boxes float32[N, 4], scores float32[N])}`` with
        ``N >= 1``; keyframes whose boxes are all below ``min_score`` are absent.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: A malformed row (``"<path>:<line>: <reason>"``).
    """
    found = read_person_boxes_csv(path, min_score=min_score)
    return {key: value for key, value in found.items() if len(value[1])}


def label_detections(
    det_boxes: np.ndarray, gt_boxes: np.ndarray, gt_targets: np.ndarray, iou_threshold: float = 0.5
) -> np.ndarray:
    """Give each detected box the targets of the GT box it overlaps most (IoU ≥ threshold).

    Args:
        det_boxes: ``[N, 4]`` detected boxes.
        gt_boxes: ``[M, 4]`` ground-truth boxes of the same keyframe.
        gt_targets: ``[M, C]`` their multi-hot targets.
        iou_threshold: Minimum IoU for a match; unmatched detections get all-zero targets.

    Returns:
        ``float32[N, C]`` targets.
    """
    targets = np.zeros((len(det_boxes), gt_targets.shape[1]), dtype=np.float32)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return targets
    iou = box_iou(det_boxes, gt_boxes)
    best = iou.argmax(1)
    matched = iou[np.arange(len(det_boxes)), best] >= iou_threshold
    targets[matched] = gt_targets[best[matched]]
    return targets


def _gt_arrays(
    persons: Sequence[GroundTruthBox], class_index: dict[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``[M, 4]`` and multi-hot targets ``[M, C]`` of one keyframe's GT persons."""
    boxes = np.array([p.box for p in persons], dtype=np.float32).reshape(-1, 4)
    targets = np.zeros((len(persons), len(class_index)), dtype=np.float32)
    for row, person in enumerate(persons):
        for action_id in person.action_ids:
            if action_id in class_index:  # ids outside the label map are not trained
                targets[row, class_index[action_id]] = 1.0
    return boxes, targets


def _in_range(timestamp: float, keyframe_range: tuple[float, float] | None) -> bool:
    return keyframe_range is None or keyframe_range[0] <= timestamp <= keyframe_range[1]


def build_keyframes(
    ground_truth: dict[KeyframeKey, list[GroundTruthBox]],
    detections: dict[KeyframeKey, tuple[np.ndarray, np.ndarray]] | None,
    class_ids: Sequence[int],
    boxes: BoxSource = "gt",
    *,
    excluded: Iterable[KeyframeKey] = (),
    keyframe_range: tuple[float, float] | None = None,
    include_unlabelled: bool = False,
    iou_threshold: float = 0.5,
) -> list[Keyframe]:
    """Assemble the per-keyframe samples of a detection dataset.

    Args:
        ground_truth: From :func:`read_ground_truth`.
        detections: From :func:`read_person_boxes` (already score-filtered); required
            unless ``boxes == "gt"``.
        class_ids: Label-map ids; target index = position in this list.
        boxes: ``"gt"``: GT boxes with their labels. ``"detected"``: detected boxes,
            labelled by the GT box of highest IoU ≥ ``iou_threshold`` (else all-zero).
            ``"both"``: the union of the two.
        excluded: Keyframes to drop (excluded-timestamps file).
        keyframe_range: Inclusive ``(first, last)`` timestamp range, ``None`` for all.
        include_unlabelled: Also keep keyframes that have detections but no GT
            (evaluation: the evaluator scores their detections as false positives).
        iou_threshold: IoU for labelling detections.

    Returns:
        Keyframes with at least one box, sorted by ``(video_id, timestamp)``.

    Raises:
        ValueError: Unknown ``boxes`` or detections missing for it.
    """
    if boxes not in BOX_SOURCES:
        raise ValueError(f"boxes must be one of {BOX_SOURCES}, got {boxes!r}")
    if boxes != "gt" and detections is None:
        raise ValueError(f"boxes={boxes!r} needs a detected person-box CSV, none was given")
    detections = detections or {}
    excluded = set(excluded)
    class_index = {cid: i for i, cid in enumerate(class_ids)}
    keys = set(ground_truth) | (set(detections) if include_unlabelled else set())
    frames = []
    for key in sorted(keys, key=lambda k: (k[0], float(k[1]))):
        if key in excluded or not _in_range(key[1], keyframe_range):
            continue
        frame = _keyframe(
            key, ground_truth.get(key, []), detections.get(key), class_index, boxes, iou_threshold
        )
        if len(frame.boxes):
            frames.append(frame)
    return frames


def _keyframe(
    key: KeyframeKey,
    persons: Sequence[GroundTruthBox],
    detected: tuple[np.ndarray, np.ndarray] | None,
    class_index: dict[int, int],
    boxes: BoxSource,
    iou_threshold: float,
) -> Keyframe:
    """One keyframe's boxes, targets and scores for the chosen box source."""
    gt_boxes, gt_targets = _gt_arrays(persons, class_index)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if boxes in ("gt", "both"):
        parts.append((gt_boxes, gt_targets, np.ones(len(gt_boxes), dtype=np.float32)))
    if boxes in ("detected", "both") and detected is not None:
        det_boxes, det_scores = detected
        parts.append(
            (
                det_boxes,
                label_detections(det_boxes, gt_boxes, gt_targets, iou_threshold),
                det_scores,
            )
        )
    num_classes = len(class_index)
    return Keyframe(
        video_id=key[0],
        timestamp=key[1],
        boxes=np.concatenate([p[0] for p in parts]).reshape(-1, 4)
        if parts
        else np.zeros((0, 4), np.float32),
        targets=np.concatenate([p[1] for p in parts]).reshape(-1, num_classes)
        if parts
        else np.zeros((0, num_classes), np.float32),
        scores=np.concatenate([p[2] for p in parts]) if parts else np.zeros((0,), np.float32),
    )
