"""Vectorised core of the AVA frame-mAP protocol: per-keyframe order, matching, AP.

The official tool processes rows keyframe by keyframe in Python. We reproduce its
results, including the order of tied scores, with array operations:

* **Keyframe order.** The official reader pushes ``(score, action_id, y1, x1, y2, x2)``
  tuples into a min-heap of capacity 50 (no cap for ground truth), then lists the heap
  sorted by ``-score`` with a stable sort, i.e. tied scores keep their heap-array
  order. For a keyframe whose kept rows have no (class, score) duplicates and no tie
  across the cap boundary, that order is simply "descending score" (the order across
  classes never matters: everything downstream is per class). Only the rare keyframes
  with such ties are replayed through :mod:`heapq` exactly as the official reader does.
* **Matching.** Per keyframe and class, detections in that order; each takes the
  ground-truth box of highest IoU (first such box on ties, like ``np.argmax``) and is a
  TP if the IoU is >= the threshold and that box is still unmatched. Because each
  detection's target does not depend on earlier matches, "TP" equals "first detection
  (in order) whose target is that box", which vectorises with ``np.unique``.
* **AP.** Per class, the official concatenation order (detection keyframes in order of
  first appearance in the detections file) is rebuilt, then sorted with the same call,
  ``np.argsort(scores)[::-1]`` (not a stable sort), so ties across keyframes resolve
  exactly as in the official tool on the same numpy build.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["keyframe_order", "match_detections", "average_precision", "iou_pairs"]


def _segments(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and length of each run of equal values in ``sorted_keys``."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    counts = np.diff(np.r_[starts, sorted_keys.size])
    return starts, counts


def _argsort_desc_within(scores: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Permutation sorting each segment by descending score (segments stay in place).

    Segments are packed into padded ``(num_segments, L)`` matrices, bucketed by
    power-of-two length so one huge keyframe does not blow up the padding.
    """
    result = np.arange(scores.size)
    buckets = np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
    for bucket in np.unique(buckets):
        segs = np.flatnonzero((buckets == bucket) & (counts > 1))
        if segs.size == 0:
            continue
        width = int(counts[segs].max())
        col = np.arange(width)
        valid = col[None, :] < counts[segs, None]  # (S, L)
        rows = (starts[segs, None] + col[None, :])[valid]
        padded = np.full((segs.size, width), np.inf)
        padded[valid] = -scores[rows]
        within = np.argsort(padded, axis=1)  # padding (+inf) sorts last
        result[rows] = (starts[segs, None] + within)[valid]
    return result


def _tied_segments(
    frame: np.ndarray, labels: np.ndarray, scores: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Frames (ids) whose kept rows repeat a (class, score) pair; rows sorted by (frame, -score)."""
    same = (frame[1:] == frame[:-1]) & (scores[1:] == scores[:-1]) & kept[1:] & kept[:-1]
    if not same.any():
        return np.zeros(0, dtype=np.int64)
    in_run = np.r_[same, False] | np.r_[False, same]
    run_id = np.cumsum(np.r_[True, ~same])[in_run]
    key = run_id * (int(labels.max()) + 1) + labels[in_run]
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    return np.unique(frame[in_run][order][dup])


def _heap_replay(rows: np.ndarray, labels, boxes, scores, capacity: int | None) -> np.ndarray:  # noqa: ANN001
    """Official reader for one keyframe: heap of ``(score, id, y1, x1, y2, x2)`` tuples."""
    x1, y1, x2, y2 = boxes[rows].T.tolist()
    tuples = list(zip(scores[rows].tolist(), labels[rows].tolist(), y1, x1, y2, x2))
    heap: list[tuple] = []
    for item in tuples:
        if capacity is None or len(heap) < capacity:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    ordered = sorted(heap, key=lambda tup: -tup[0])
    # Identical tuples are interchangeable, so any row carrying the tuple will do.
    row_of: dict[tuple, list[int]] = {}
    for item, row in zip(tuples, rows.tolist()):
        row_of.setdefault(item, []).append(row)
    return np.array([row_of[item].pop() for item in ordered], dtype=np.int64)


def keyframe_order(
    frame: np.ndarray,
    labels: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    capacity: int | None,
) -> np.ndarray:
    """Rows the official reader keeps, in its output order.

    Args:
        frame: ``int64[N]`` keyframe id; output keyframes are in ascending id order.
        labels: ``int64[N]`` action ids.
        boxes: ``float64[N, 4]`` ``x1, y1, x2, y2``.
        scores: ``float64[N]``.
        capacity: Rows kept per keyframe (highest scores); ``None`` keeps all.

    Returns:
        ``int64[K]`` row indices: keyframes ascending, each in descending-score order
        with ties in the official heap order.
    """
    by_frame = np.argsort(frame, kind="stable")  # file order inside a keyframe
    starts, counts = _segments(frame[by_frame])
    every_row = (by_frame, starts, counts)  # what the heap replay reads
    if capacity is not None and counts.max(initial=0) > capacity:
        by_frame, starts, counts = _top_candidates(scores, by_frame, starts, counts, capacity)
    order = by_frame[_argsort_desc_within(scores[by_frame], starts, counts)]
    rank = np.arange(order.size) - np.repeat(starts, counts)
    kept = rank < capacity if capacity is not None else np.ones(order.size, dtype=bool)
    f, s = frame[order], scores[order]
    exact = _tied_segments(f, labels[order], s, kept)
    if capacity is not None:  # a tie straddling the cap: the file order decides
        over = np.flatnonzero(counts > capacity)
        straddle = s[starts[over] + capacity] == s[starts[over] + capacity - 1]
        exact = np.union1d(exact, f[starts[over[straddle]]])
    return _assemble(
        order, f, rank, kept, exact, (starts, counts), every_row, labels, boxes, scores, capacity
    )


def _top_candidates(
    scores: np.ndarray, by_frame: np.ndarray, starts: np.ndarray, counts: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keeps, per keyframe, only rows scoring at least its ``capacity``-th highest score
    (ties included), so the sort that follows is ~capacity rows per keyframe.

    The result has the same keyframes (segments) in the same order, each in file order.
    """
    threshold = np.full(starts.size, -np.inf)
    long = counts > capacity
    buckets = np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
    for bucket in np.unique(buckets[long]):
        segs = np.flatnonzero(long & (buckets == bucket))
        width = int(counts[segs].max())
        col = np.arange(width)
        valid = col[None, :] < counts[segs, None]  # (S, L)
        padded = np.full((segs.size, width), -np.inf)
        padded[valid] = scores[by_frame[(starts[segs, None] + col[None, :])[valid]]]
        threshold[segs] = np.partition(padded, width - capacity, axis=1)[:, width - capacity]
    keep = scores[by_frame] >= np.repeat(threshold, counts)
    new_counts = np.add.reduceat(keep.astype(np.int64), starts) if starts.size else counts
    new_starts = np.r_[0, np.cumsum(new_counts)[:-1]]
    return by_frame[keep], new_starts.astype(np.int64), new_counts.astype(np.int64)


def _assemble(order, f, rank, kept, exact, groups, every_row, labels, boxes, scores, capacity):  # noqa: ANN001, ANN202
    """Places fast-path rows and heap-replayed rows at their output positions."""
    starts, counts = groups
    by_frame, all_starts, all_counts = every_row
    frame_ids = f[starts]
    is_exact = np.isin(f, exact)
    fast = kept & ~is_exact
    kept_count = np.minimum(counts, capacity) if capacity is not None else counts.copy()
    offsets = np.r_[0, np.cumsum(kept_count)[:-1]]
    seg_of_row = np.repeat(np.arange(starts.size), counts)
    out = np.empty(int(kept_count.sum()), dtype=np.int64)
    out[offsets[seg_of_row[fast]] + rank[fast]] = order[fast]
    for seg in np.flatnonzero(np.isin(frame_ids, exact)):
        rows = by_frame[all_starts[seg] : all_starts[seg] + all_counts[seg]]
        replay = _heap_replay(rows, labels, boxes, scores, capacity)
        out[offsets[seg] : offsets[seg] + replay.size] = replay
    return out


def iou_pairs(det_boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """IoU of paired ``x1, y1, x2, y2`` boxes, ``[P, 4]`` each → ``[P]``.

    Same arithmetic as the TF OD API's ``np_box_ops.iou`` for normalised boxes (no +1):
    intersection = max(0, height) * max(0, width), union = area1 + area2 - intersection,
    so results are bit-identical to the official tool.
    """
    heights = np.maximum(
        0.0,
        np.minimum(det_boxes[:, 3], gt_boxes[:, 3]) - np.maximum(det_boxes[:, 1], gt_boxes[:, 1]),
    )
    widths = np.maximum(
        0.0,
        np.minimum(det_boxes[:, 2], gt_boxes[:, 2]) - np.maximum(det_boxes[:, 0], gt_boxes[:, 0]),
    )
    intersection = heights * widths
    area_det = (det_boxes[:, 3] - det_boxes[:, 1]) * (det_boxes[:, 2] - det_boxes[:, 0])
    area_gt = (gt_boxes[:, 3] - gt_boxes[:, 1]) * (gt_boxes[:, 2] - gt_boxes[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return intersection / (area_det + area_gt - intersection)


def match_detections(
    det_group: np.ndarray,
    det_boxes: np.ndarray,
    gt_group: np.ndarray,
    gt_boxes: np.ndarray,
    iou_threshold: float,
) -> np.ndarray:
    """Pascal VOC matching within (keyframe, class) groups.

    Args:
        det_group: ``int64[D]`` group key of each detection, detections in matching order.
        det_boxes: ``float64[D, 4]``.
        gt_group: ``int64[G]`` group key of each ground-truth box, boxes in official order.
        gt_boxes: ``float64[G, 4]``.
        iou_threshold: Minimum IoU for a true positive (inclusive).

    Returns:
        ``bool[D]``: True for true positives.
    """
    tp = np.zeros(det_group.size, dtype=bool)
    gt_order = np.argsort(gt_group, kind="stable")
    sorted_groups = gt_group[gt_order]
    lo = np.searchsorted(sorted_groups, det_group, side="left")
    count = np.searchsorted(sorted_groups, det_group, side="right") - lo
    has_gt = np.flatnonzero(count > 0)
    if has_gt.size == 0:
        return tp
    n = count[has_gt]
    seg_start = np.r_[0, np.cumsum(n)[:-1]]
    local = np.arange(int(n.sum())) - np.repeat(seg_start, n)  # (P,) index within group
    gt_pos = np.repeat(lo[has_gt], n) + local
    iou = iou_pairs(np.repeat(det_boxes[has_gt], n, axis=0), gt_boxes[gt_order[gt_pos]])
    best = np.maximum.reduceat(iou, seg_start)  # NaN propagates → never a TP, as official
    first = np.minimum.reduceat(np.where(iou == np.repeat(best, n), local, n.max()), seg_start)
    candidates = best >= iou_threshold
    dets, targets = has_gt[candidates], (lo[has_gt] + first)[candidates]
    _, first_claim = np.unique(targets, return_index=True)  # dets are in matching order
    tp[dets[first_claim]] = True
    return tp


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """Area under the monotone (non-increasing) precision-recall curve.

    Args:
        scores: ``float64[D]`` detection scores of one class, official concatenation order.
        tp: ``bool[D]`` true-positive flags.
        num_gt: Number of ground-truth boxes of the class.

    Returns:
        The AP; NaN when ``num_gt == 0``; 0.0 when there are no detections.
    """
    if num_gt == 0:
        return float("nan")
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores)[::-1]  # official: unstable argsort, reversed
    true_pos = tp[order]
    cum_tp = np.cumsum(true_pos)
    cum_fp = np.cumsum((true_pos <= 0).astype(float))
    precision = np.r_[0.0, cum_tp.astype(float) / (cum_tp + cum_fp), 0.0]
    recall = np.r_[0.0, cum_tp.astype(float) / num_gt, 1.0]
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))
