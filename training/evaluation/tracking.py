"""Tracks and timelines against identity ground truth (AVA column 8: the person id).

* **Tracking quality** - HOTA (DetA, AssA) and IDF1 (IDP, IDR) computed by ``trackeval``
  (the MOTChallenge / TrackEval reference code) on the keyframes: ground-truth boxes carry
  the AVA person ids, predicted boxes the track ids, similarity is box IoU. Untracked
  predictions (``track_id == -1``) are not part of any track and are left out.
* **Timeline quality** - segment precision / recall at temporal IoU >= 0.5. Ground-truth
  segments are the maximal runs of consecutive keyframes where one person has one action,
  built by THE timeline rule (:func:`cofin_sdk.results.timeline.segment_scores` on 0/1 scores), so
  they cover time exactly as predicted segments do. A predicted segment ``(track, action)``
  matches a ground-truth segment of the same action whose person is the track's person
  (the person whose boxes the track's boxes overlap, IoU >= 0.5, most often), one to one,
  best peak score first.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cofin_sdk.formats.ava import AvaRows
from cofin_sdk.formats.ava_tracks import Frames, frames_from_rows, ground_truth_frames
from cofin_sdk.formats.boxes import box_iou
from cofin_sdk.results.timeline import ActionTimeline, TimelineRule, segment_scores
from cofin_sdk.tracking import PersonTracker

__all__ = [
    "Frames",
    "evaluate_tracks",
    "track_keyframe_boxes",
    "GroundTruthSegment",
    "frames_from_rows",
    "ground_truth_frames",
    "ground_truth_segments",
    "segment_precision_recall",
    "temporal_iou",
    "track_persons",
    "tracking_metrics",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroundTruthSegment:
    """A maximal run of keyframes where ``person_id`` has ``action``."""

    video_id: str
    person_id: int
    action: str
    start_s: float
    end_s: float


def _sequence(gt: Mapping[float, tuple], pred: Mapping[float, tuple]) -> dict[str, Any]:
    """One video in trackeval's per-sequence layout (ids renumbered 0..n-1, IoU similarity)."""
    times = sorted(set(gt) | set(pred))
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    gt_steps = [gt.get(t, empty) for t in times]
    pred_steps = [pred.get(t, empty) for t in times]
    gt_index = {i: n for n, i in enumerate(np.unique(np.concatenate([g[0] for g in gt_steps])))}
    pred_index = {i: n for n, i in enumerate(np.unique(np.concatenate([p[0] for p in pred_steps])))}
    return {
        "num_timesteps": len(times),
        "num_gt_ids": len(gt_index),
        "num_tracker_ids": len(pred_index),
        "num_gt_dets": sum(len(g[0]) for g in gt_steps),
        "num_tracker_dets": sum(len(p[0]) for p in pred_steps),
        "gt_ids": [np.array([gt_index[i] for i in g[0]], int) for g in gt_steps],
        "tracker_ids": [np.array([pred_index[i] for i in p[0]], int) for p in pred_steps],
        "similarity_scores": [box_iou(g[1], p[1]) for g, p in zip(gt_steps, pred_steps)],
    }


def tracking_metrics(gt: Frames, pred: Frames) -> dict[str, float]:
    """HOTA / DetA / AssA and IDF1 / IDP / IDR over the videos of ``gt``, by trackeval.

    Args:
        gt: Ground-truth boxes and person ids (:func:`ground_truth_frames`).
        pred: Predicted boxes and track ids, same units and time base.

    Returns:
        ``{"HOTA", "DetA", "AssA", "IDF1", "IDP", "IDR"}`` in [0, 1] (HOTA family averaged
        over trackeval's localisation thresholds 0.05..0.95, as it reports them), plus
        ``"videos"``.

    Raises:
        ImportError: trackeval is missing (names the extra).
    """
    try:
        from trackeval.metrics import HOTA, Identity
    except ImportError as err:
        raise ImportError(
            'tracking metrics need trackeval: pip install "cofin-sdk[train]"'
        ) from err
    hota, identity = HOTA({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False})
    per_video_hota, per_video_id = {}, {}
    for video in gt:
        data = _sequence(gt[video], pred.get(video, {}))
        per_video_hota[video] = hota.eval_sequence(data)
        per_video_id[video] = identity.eval_sequence(data)
    if not gt:
        raise ValueError("no ground-truth videos to score tracks on")
    hota_all = hota.combine_sequences(per_video_hota)
    id_all = identity.combine_sequences(per_video_id)
    result = {name: float(np.mean(hota_all[name])) for name in ("HOTA", "DetA", "AssA")}
    result |= {name: float(id_all[name]) for name in ("IDF1", "IDP", "IDR")}
    return result | {"videos": float(len(gt))}


def track_persons(gt: Frames, pred: Frames, iou: float = 0.5) -> dict[tuple[str, int], int]:
    """``{(video, track_id): person_id}``: the person a track's boxes overlap most often."""
    votes: dict[tuple[str, int], Counter] = defaultdict(Counter)
    for video, keyframes in pred.items():
        for time, (track_ids, boxes) in keyframes.items():
            person_ids, gt_boxes = gt.get(video, {}).get(time, (np.zeros(0, int), np.zeros((0, 4))))
            if not len(person_ids) or not len(track_ids):
                continue
            overlap = box_iou(boxes, gt_boxes)
            for row, track in enumerate(track_ids):
                best = int(np.argmax(overlap[row]))
                if overlap[row, best] >= iou:
                    votes[(video, int(track))][int(person_ids[best])] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in votes.items()}


def ground_truth_segments(
    rows: AvaRows,
    class_names: Mapping[int, str],
    period_s: float = 1.0,
    time_offset: float = 0.0,
) -> list[GroundTruthSegment]:
    """Maximal runs of consecutive keyframes where one person has one action.

    Args:
        rows: Ground truth with person ids.
        class_names: ``{action_id: name}``; actions not in it are skipped.
        period_s: Keyframe period (AVA: 1 s); a missing keyframe ends a run.
        time_offset: Subtracted from the CSV times (900 for AVA's 15-minute cuts).
    """
    keep = ~rows.markers & (rows.person_ids >= 0)
    videos = rows.video_names[rows.video_codes][keep]
    times = rows.timestamps[keep] - time_offset
    persons, labels = rows.person_ids[keep], rows.labels[keep]
    labelled: dict[tuple[str, int, int], set[float]] = defaultdict(set)
    seen: dict[tuple[str, int], set[float]] = defaultdict(set)
    for video, time, person, label in zip(videos, times, persons, labels, strict=True):
        labelled[(str(video), int(person), int(label))].add(float(time))
        seen[(str(video), int(person))].add(float(time))
    rule = TimelineRule(threshold=1.0, period_s=period_s)  # 0/1 scores: runs of "has it"
    segments = []
    for (video, person, label), with_action in sorted(labelled.items()):
        if label not in class_names:
            continue
        present = sorted(seen[(video, person)])
        flags = [1.0 if t in with_action else 0.0 for t in present]
        for start, end, _, _ in segment_scores(present, flags, rule):
            segments.append(GroundTruthSegment(video, person, class_names[label], start, end))
    return segments


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time intervals ``(start, end)``."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segment_precision_recall(
    timelines: Mapping[str, ActionTimeline],
    gt_segments: Iterable[GroundTruthSegment],
    persons: Mapping[tuple[str, int], int],
    iou: float = 0.5,
) -> dict[str, float]:
    """Segment precision and recall at temporal IoU >= ``iou`` (see the module docstring).

    Args:
        timelines: ``{video_id: ActionTimeline}`` predicted.
        gt_segments: Ground-truth segments (:func:`ground_truth_segments`).
        persons: ``{(video, track_id): person_id}`` (:func:`track_persons`).
        iou: Temporal IoU a match needs.

    Returns:
        ``{"precision", "recall", "matched", "predicted", "ground_truth"}``.
    """
    open_gt: dict[tuple[str, int, str], list[GroundTruthSegment]] = defaultdict(list)
    num_gt = 0
    for segment in gt_segments:
        open_gt[(segment.video_id, segment.person_id, segment.action)].append(segment)
        num_gt += 1
    predicted = [(video, s) for video, timeline in timelines.items() for s in timeline]
    predicted.sort(key=lambda vs: -vs[1].peak_score)
    matched = 0
    for video, segment in predicted:
        person = persons.get((video, segment.track_id))
        candidates = open_gt.get((video, person, segment.action), []) if person is not None else []
        scored = [
            (temporal_iou((segment.start_s, segment.end_s), (g.start_s, g.end_s)), g)
            for g in candidates
        ]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        if best[1] is not None and best[0] >= iou:
            candidates.remove(best[1])
            matched += 1
    return {
        "precision": matched / len(predicted) if predicted else 0.0,
        "recall": matched / num_gt if num_gt else 0.0,
        "matched": float(matched),
        "predicted": float(len(predicted)),
        "ground_truth": float(num_gt),
    }


def track_keyframe_boxes(
    video_ids: Sequence[str], times: Any, boxes: Any, scores: Any | None = None
) -> np.ndarray:
    """Track ids for per-keyframe boxes of many videos: one :class:`PersonTracker` per video,
    fed keyframe by keyframe at the keyframe rate (how ``cofin eval --track`` tracks).

    Args:
        video_ids: ``[N]`` video of each box.
        times: ``[N]`` keyframe time of each box in seconds.
        boxes: ``[N, 4]`` boxes (any one unit).
        scores: ``[N]`` person scores (default 1).

    Returns:
        ``int64 [N]`` track ids (``-1``: untracked), unique within a video.
    """
    video_ids = np.asarray(video_ids, dtype=object)
    times = np.asarray(times, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, np.float64)
    track_ids = np.full(len(boxes), -1, np.int64)
    for video in dict.fromkeys(video_ids.tolist()):
        rows = np.flatnonzero(video_ids == video)
        keyframes = np.unique(times[rows])
        rate = 1.0 / float(np.median(np.diff(keyframes))) if len(keyframes) > 1 else 1.0
        tracker = PersonTracker(rate)
        for time in keyframes:
            at = rows[times[rows] == time]
            track_ids[at] = tracker.update(float(time), boxes[at], scores[at])
    return track_ids


def evaluate_tracks(
    video_ids: Sequence[str],
    times: Any,
    boxes: Any,
    action_scores: Any,
    class_names: Sequence[str],
    class_ids: Sequence[int],
    gt_rows: AvaRows,
    rule: TimelineRule,
) -> dict[str, float]:
    """``cofin eval --track``: tracks and timelines of per-keyframe detections, scored.

    Args:
        video_ids, times, boxes: ``[N]`` / ``[N]`` / ``[N, 4]`` keyframe boxes (normalised,
            times in the ground truth's seconds).
        action_scores: ``[N, C]`` scores of those boxes.
        class_names, class_ids: The ``C`` classes (ids as in the ground truth's column 7).
        gt_rows: Ground truth with person ids.
        rule: The timeline rule (its ``period_s`` is the keyframe period).

    Returns:
        :func:`tracking_metrics` plus ``segment_precision``, ``segment_recall`` and the counts.
    """
    track_ids = track_keyframe_boxes(video_ids, times, boxes)
    gt = ground_truth_frames(gt_rows)
    pred = frames_from_rows(video_ids, times, boxes, track_ids)
    metrics = tracking_metrics(gt, pred)
    video_ids = np.asarray(video_ids, dtype=object)
    scores = np.asarray(action_scores, dtype=np.float64)
    timelines = {
        video: ActionTimeline.from_scores(
            track_ids[mine], np.asarray(times)[mine], scores[mine], class_names, rule, video
        )
        for video in dict.fromkeys(video_ids.tolist())
        for mine in [video_ids == video]
    }
    names = dict(zip(class_ids, class_names, strict=True))
    segments = segment_precision_recall(
        timelines,
        ground_truth_segments(gt_rows, names, rule.period_s),
        track_persons(gt, pred),
    )
    return metrics | {
        "segment_precision": segments["precision"],
        "segment_recall": segments["recall"],
        "segments_predicted": segments["predicted"],
        "segments_ground_truth": segments["ground_truth"],
    }
