"""AVA frame-mAP evaluator vs a slow reference written from the protocol
(docs: ../shared/AVA_PROTOCOL.md): randomized tables in both modes, tie order, float parsing."""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pytest

from training.evaluation._ava_core import keyframe_order
from training.evaluation.ava import AvaRows, evaluate_ava, read_ava_csv

# --------------------------------------------------------------------------- reference implementation


def reference_ap(scores: list[float], tp: list[bool], num_gt: int) -> float:
    """Area under the interpolated PR curve with plain loops (rank order as official)."""
    if not scores:
        return 0.0
    order = np.argsort(np.array(scores, dtype=float))[::-1]  # the official ranking call
    precision, recall, hits = [], [], 0
    for rank, i in enumerate(order, start=1):
        hits += tp[i]
        precision.append(hits / rank)
        recall.append(hits / num_gt)
    ap, best, prev_recall = 0.0, 0.0, 0.0
    interpolated = precision[:]
    for i in range(len(interpolated) - 1, -1, -1):
        best = max(best, interpolated[i])
        interpolated[i] = best
    for p, r in zip(interpolated, recall):
        if r != prev_recall:
            ap += (r - prev_recall) * p
            prev_recall = r
    return ap


def reference_read(table: list[tuple], class_ids: set[int], capacity: int | None):  # noqa: ANN201
    """Per keyframe (first-appearance order): rows after the class filter and heap cap."""
    heaps: dict[tuple, list] = {}
    keys = set()
    for row in table:
        key = (row[0], round(row[1] * 1e6))
        keys.add(key)
        if len(row) == 2 or row[6] not in class_ids:
            continue
        x1, y1, x2, y2 = row[2:6]
        item = (row[7], row[6], y1, x1, y2, x2)
        heap = heaps.setdefault(key, [])
        if capacity is None or len(heap) < capacity:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    return {k: sorted(h, key=lambda t: -t[0]) for k, h in heaps.items()}, keys


def reference_iou(a: tuple, b: tuple) -> float:
    """``a``, ``b`` as (y1, x1, y2, x2)."""
    h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_map(gt_table, det_table, class_ids, excluded=(), mode="2019", cap=50):  # noqa: ANN001, ANN201
    """Straight loops over keyframes, classes and detections, following AVA_PROTOCOL.md."""
    ids = set(class_ids)
    excluded = {(v, round(t * 1e6)) for v, t in excluded}
    gt, gt_keys = reference_read(gt_table, ids, None)
    det, _ = reference_read(det_table, ids, cap)
    num_gt = dict.fromkeys(class_ids, 0)
    for key, items in gt.items():
        for item in items:
            num_gt[item[1]] += key not in excluded
    scores = {c: [] for c in class_ids}
    labels = {c: [] for c in class_ids}
    for key, items in det.items():
        if key in excluded or (mode == "2020" and key not in gt_keys):
            continue
        for c in class_ids:
            truth = [it[2:] for it in gt.get(key, []) if it[1] == c]
            taken = [False] * len(truth)
            for score, label, *box in items:
                if label != c or not (box[0] < box[2] and box[1] < box[3]):
                    continue
                ious = [reference_iou(box, g) for g in truth]
                hit = False
                if ious:
                    j = ious.index(max(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        taken[j] = hit = True
                scores[c].append(score)
                labels[c].append(hit)
    aps = {c: reference_ap(scores[c], labels[c], num_gt[c]) for c in class_ids if num_gt[c]}
    return aps, sum(aps.values()) / len(aps)


def random_tables(seed: int, mode: str):  # noqa: ANN201
    """Small random AVA files with tied scores, shared boxes and IoUs near 0.5."""
    rng = np.random.default_rng(seed)
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]  # coarse grid: exact IoU ties and IoU == 0.5

    def box() -> list[float]:
        x = sorted(rng.choice(grid, 2, replace=False))
        y = sorted(rng.choice(grid, 2, replace=False))
        if rng.random() < 0.3:  # off-grid jitter around the threshold
            x[1] = min(1.0, x[1] + rng.choice([-1e-9, 0.0, 1e-9, 0.01]))
        return [x[0], y[0], x[1], y[1]]

    keys = [
        (f"vid{v}", float(t) + (0.5 if mode == "2020" else 0.0))
        for v in range(3)
        for t in range(900, 906)
    ]
    gt, det = [], []
    for video, ts in keys:
        people = [box() for _ in range(rng.integers(0, 4))]
        if not people and mode == "2020" and rng.random() < 0.5:
            gt.append((video, ts))
        for person in people:
            for action in rng.choice(6, rng.integers(1, 3), replace=False) + 1:
                gt.append((video, ts, *person, int(action), float(rng.integers(0, 3))))
        for person in people + [box() for _ in range(rng.integers(0, 3))]:
            if rng.random() < 0.2:
                person = [person[0], person[1], person[0], person[3]]  # zero area
            for action in range(1, 7):
                det.append((video, ts, *person, action, float(rng.integers(0, 8)) / 8))
    order = rng.permutation(len(det))
    return gt, [det[i] for i in order], keys


def to_rows(table: list[tuple], scored: bool = True) -> AvaRows:
    full = [r for r in table if len(r) > 2] + [
        (*r, 0.0, 0.0, 0.0, 0.0, 1, 0.0) for r in table if len(r) == 2
    ]
    markers = np.array(
        [len(r) == 2 for r in table if len(r) > 2] + [True] * sum(len(r) == 2 for r in table)
    )
    made = AvaRows.from_arrays(
        [r[0] for r in full],
        [r[1] for r in full],
        [r[2:6] for r in full],
        [r[6] for r in full],
        [r[7] for r in full],
    )
    return AvaRows(
        made.video_names,
        made.video_codes,
        made.timestamps,
        made.boxes,
        made.labels,
        made.scores,
        markers,
    )


@pytest.mark.parametrize("mode", ["2019", "2020"])
@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_on_random_data(seed: int, mode: str) -> None:
    gt, det, keys = random_tables(seed, mode)
    class_ids = [1, 2, 4, 5]  # 3 and 6 appear in the files but are not evaluated
    excluded = [keys[seed % len(keys)], keys[(seed * 7) % len(keys)]] if mode == "2019" else []
    cap = 7  # small cap so ties straddle it often
    ref_aps, ref_map = reference_map(gt, det, class_ids, excluded, mode, cap)
    result = evaluate_ava(
        to_rows(gt),
        to_rows(det),
        {c: str(c) for c in class_ids},
        exclusions=excluded,
        mode=mode,
        max_detections_per_keyframe=cap,
    )
    ours = {c: ap for c, ap in zip(result.class_ids, result.ap) if not np.isnan(ap)}
    assert ours.keys() == ref_aps.keys()
    for c in ours:
        assert ours[c] == pytest.approx(ref_aps[c], abs=1e-9), c
    assert result.mAP == pytest.approx(ref_map, abs=1e-9)


def test_keyframe_order_matches_heap_replay_on_ties() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = rng.integers(0, 5, n)
    labels = rng.integers(1, 4, n)
    boxes = (
        np.sort(rng.choice([0.0, 0.5, 1.0], (n, 2, 2)), axis=1)
        .transpose(0, 2, 1)
        .reshape(n, 4)[:, [0, 2, 1, 3]]
    )
    scores = rng.integers(0, 6, n) / 5
    for capacity in (None, 10, 50):
        order = keyframe_order(frame, labels, boxes, scores, capacity)
        table = [
            ("v", float(f), *b, int(c), float(s))
            for f, b, c, s in zip(frame, boxes, labels, scores)
        ]
        expected, _ = reference_read(table, {1, 2, 3}, capacity)
        for f in range(5):
            ours = order[frame[order] == f]
            got = [
                (scores[i], labels[i], boxes[i, 1], boxes[i, 0], boxes[i, 3], boxes[i, 2])
                for i in ours
            ]
            assert got == expected[("v", round(f * 1e6))]
        assert np.all(np.diff(frame[order]) >= 0)


def test_exact_floats_parse_like_python_float(tmp_path: Path) -> None:
    """pyarrow's parser is correctly rounded: bit-identical to float() even for repr values."""
    values = np.random.default_rng(0).random(200)
    lines = [f"v,902,0.1,0.2,0.3,0.4,1,{float(v)!r}" for v in values]
    (tmp_path / "det.csv").write_text("\n".join(lines) + "\n")
    exact = read_ava_csv(tmp_path / "det.csv", exact_floats=True)
    assert exact.scores.tolist() == [float(repr(float(v))) for v in values]
    fast = read_ava_csv(tmp_path / "det.csv")
    assert fast.scores.tolist() == exact.scores.tolist()
