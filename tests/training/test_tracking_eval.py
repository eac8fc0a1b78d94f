"""Tracking and timeline evaluation (training.evaluation.tracking) on hand-built cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cofin_sdk.formats.ava import AvaRows
from cofin_sdk.results.timeline import ActionTimeline, TimelineRule
from training.evaluation.tracking import (
    frames_from_rows,
    ground_truth_frames,
    ground_truth_segments,
    segment_precision_recall,
    temporal_iou,
    track_persons,
    tracking_metrics,
)

LEFT, RIGHT = [0.1, 0.1, 0.3, 0.9], [0.6, 0.1, 0.8, 0.9]


def two_people(ids_left: list[int], ids_right: list[int]) -> dict:
    n = len(ids_left)
    return frames_from_rows(
        ["v"] * 2 * n,
        [*range(n), *range(n)],
        [LEFT] * n + [RIGHT] * n,
        [*ids_left, *ids_right],
    )


def test_perfect_tracks() -> None:
    gt = two_people([1] * 10, [2] * 10)
    pred = two_people([7] * 10, [9] * 10)  # any ids, consistently
    metrics = tracking_metrics(gt, pred)
    assert metrics["IDF1"] == pytest.approx(1.0) and metrics["HOTA"] == pytest.approx(1.0)


def test_an_id_swap_halves_idf1() -> None:
    gt = two_people([1] * 10, [2] * 10)
    pred = two_people([7] * 5 + [9] * 5, [9] * 5 + [7] * 5)
    metrics = tracking_metrics(gt, pred)
    assert metrics["IDF1"] == pytest.approx(0.5)
    assert metrics["DetA"] == pytest.approx(1.0) and metrics["AssA"] < 0.6


def test_missing_tracks_cost_recall() -> None:
    gt = two_people([1] * 10, [2] * 10)
    pred = two_people([7] * 10, [-1] * 10)  # the right person was never tracked
    metrics = tracking_metrics(gt, pred)
    assert metrics["IDR"] == pytest.approx(0.5) and metrics["IDP"] == pytest.approx(1.0)


def gt_rows() -> AvaRows:
    # person 3: action 1 at 902-904, not 905, again 906; action 2 at 904-906; person 5: action 1 at 903
    rows = [(902, 3, 1), (903, 3, 1), (904, 3, 1), (904, 3, 2), (905, 3, 2), (906, 3, 2),
            (906, 3, 1), (903, 5, 1)]  # fmt: skip
    base = AvaRows.from_arrays(
        ["v"] * len(rows), [r[0] for r in rows], [LEFT] * len(rows), [r[2] for r in rows]
    )
    return AvaRows(
        base.video_names, base.video_codes, base.timestamps, base.boxes, base.labels,
        base.scores, person_ids=np.array([r[1] for r in rows]),
    )  # fmt: skip


def test_ground_truth_segments_are_maximal_runs() -> None:
    segments = ground_truth_segments(gt_rows(), {1: "walk", 2: "wave"}, time_offset=900)
    got = [(s.person_id, s.action, s.start_s, s.end_s) for s in segments]
    assert got == [
        (3, "walk", 1.5, 4.5),
        (3, "walk", 5.5, 6.5),
        (3, "wave", 3.5, 6.5),
        (5, "walk", 2.5, 3.5),
    ]
    frames = ground_truth_frames(gt_rows(), time_offset=900)
    assert sorted(frames["v"]) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert frames["v"][3.0][0].tolist() == [3, 5]  # one box per person, not per action


def test_segment_precision_recall() -> None:
    gt = ground_truth_segments(gt_rows(), {1: "walk", 2: "wave"}, time_offset=900)
    timeline = ActionTimeline(
        track_ids=[11, 11, 11, 12],
        actions=("walk", "wave", "wave", "walk"),
        start_s=[1.5, 3.5, 0.0, 2.5],
        end_s=[4.0, 6.5, 1.0, 3.5],
        peak_scores=[0.9, 0.8, 0.7, 0.6],
        mean_scores=[0.9, 0.8, 0.7, 0.6],
        rule=TimelineRule(),
    )
    # track 11 is person 3; track 12 overlaps nobody's boxes, so its segment cannot match
    result = segment_precision_recall({"v": timeline}, gt, {("v", 11): 3})
    assert (result["matched"], result["predicted"], result["ground_truth"]) == (2, 4, 4)
    assert result["precision"] == 0.5 and result["recall"] == 0.5


def test_track_persons_by_box_overlap() -> None:
    gt = two_people([1] * 4, [2] * 4)
    pred = two_people([7, 7, 7, 8], [8, 8, 8, 7])
    assert track_persons(gt, pred) == {("v", 7): 1, ("v", 8): 2}


def test_temporal_iou() -> None:
    assert temporal_iou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    assert temporal_iou((0, 1), (2, 3)) == 0.0


@pytest.mark.slow
def test_eval_track_reports_next_to_frame_map(synth_root, tmp_path) -> None:
    """`cofin eval --track`'s engine on the tiny synthetic val set (an untrained model)."""
    from _fixtures import tiny_train_config

    from training.builders import build_datasets, build_model
    from training.evaluation.runner import evaluate_model

    cfg = tiny_train_config(synth_root, tmp_path / "run")
    model = build_model(cfg, build_datasets(cfg, "train"))
    metrics = evaluate_model(model, cfg, tmp_path / "eval", progress=False, track=True)
    tracking = metrics["ava"]["tracking"]
    assert metrics["ava"]["mAP"] is not None  # frame-mAP, as always
    for name in ("IDF1", "HOTA", "segment_precision", "segment_recall"):
        assert 0.0 <= tracking[name] <= 1.0
    assert tracking["IDF1"] > 0.2  # the val boxes are tracked, not left at -1
    assert tracking["segments_ground_truth"] > 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["ava"]["tracking"]
