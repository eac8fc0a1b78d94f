"""The timeline rule (hysteresis, gap filling, minimum duration) on hand-built scores,
and ActionTimeline's exports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cofin_sdk.results import Detections
from cofin_sdk.results.timeline import (
    SCHEMA_VERSION,
    ActionTimeline,
    TimelineRule,
    segment_scores,
)

TIMES = np.arange(10.0)  # keyframes every second


def spans(scores: list[float], **rule: float) -> list[tuple[float, float]]:
    return [(s, e) for s, e, _, _ in segment_scores(TIMES, scores, TimelineRule(**rule))]


def test_one_threshold_chops_a_flickering_action() -> None:
    flicker = [0.1, 0.7, 0.45, 0.7, 0.45, 0.7, 0.1, 0.1, 0.1, 0.1]
    assert spans(flicker, threshold=0.5) == [(0.5, 1.5), (2.5, 3.5), (4.5, 5.5)]


def test_hysteresis_keeps_it_in_one_piece() -> None:
    flicker = [0.1, 0.7, 0.45, 0.7, 0.45, 0.7, 0.1, 0.1, 0.1, 0.1]
    assert spans(flicker, threshold=0.5, off_threshold=0.4) == [(0.5, 5.5)]


def test_off_threshold_alone_does_not_open_a_segment() -> None:
    assert spans([0.45] * 10, threshold=0.5, off_threshold=0.4) == []
    # once opened, the off threshold holds it; a drop below it closes it for good
    scores = [0.45, 0.6, 0.45, 0.45, 0.3, 0.45, 0.45, 0.1, 0.1, 0.1]
    assert spans(scores, threshold=0.5, off_threshold=0.4) == [(0.5, 3.5)]


def test_gap_filling_up_to_max_gap() -> None:
    scores = [0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]
    assert spans(scores) == [(0.0, 1.5), (2.5, 3.5), (5.5, 6.5)]
    assert spans(scores, max_gap_s=1.0) == [(0.0, 3.5), (5.5, 6.5)]
    assert spans(scores, max_gap_s=2.0) == [(0.0, 6.5)]


def test_min_duration_drops_short_segments_after_filling() -> None:
    scores = [0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]
    assert spans(scores, min_duration_s=2.0) == []
    assert spans(scores, min_duration_s=2.0, max_gap_s=1.0) == [(0.0, 2.5)]


def test_absent_keyframes_close_a_segment() -> None:
    times = [0.0, 1.0, 4.0, 5.0]  # the person is not seen at 2 s and 3 s
    rule = TimelineRule(threshold=0.5, off_threshold=0.2)
    assert [s[:2] for s in segment_scores(times, [0.9, 0.9, 0.3, 0.9], rule)] == [(0.0, 1.5)] + [
        (4.5, 5.5)
    ]


def test_peak_and_mean_cover_the_segment_keyframes() -> None:
    rule = TimelineRule(threshold=0.5, off_threshold=0.3, max_gap_s=1.0)
    scores = [0.1, 0.6, 0.4, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1]
    [(start, end, peak, mean)] = segment_scores(TIMES, scores, rule)
    assert (start, end, peak) == (0.5, 4.5, 0.8)
    assert mean == pytest.approx((0.6 + 0.4 + 0.8) / 3)  # the filled gap (0.1) does not count


def timeline() -> ActionTimeline:
    scores = np.array([[0.9, 0.1], [0.8, 0.6], [0.2, 0.7], [0.1, 0.9], [0.95, 0.0]])
    return ActionTimeline.from_scores(
        track_ids=[4, 4, 4, 9, -1],
        times=[0.0, 1.0, 2.0, 0.0, 0.0],
        scores=scores,
        class_names=("walk", "wave"),
        rule=TimelineRule(threshold=0.5),
        video_id="clip",
    )


def test_from_scores_per_track_and_action() -> None:
    rows = [tuple(s)[:4] for s in timeline()]
    # track -1 (untracked) has no timeline
    assert rows == [(4, "walk", 0.0, 1.5), (4, "wave", 0.5, 2.5), (9, "wave", 0.0, 0.5)]


def test_json_csv_pandas() -> None:
    original = timeline()
    text = original.to_json()
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert ActionTimeline.from_json(text) == original
    csv_lines = original.to_csv().splitlines()
    assert csv_lines[0] == "video_id,track_id,action,start_s,end_s,peak_score,mean_score"
    assert csv_lines[1] == "clip,4,walk,0.000,1.500,0.900000,0.850000"
    frame = original.to_pandas()
    assert frame["track_id"].tolist() == [4, 4, 9] and frame["video_id"].unique().tolist() == [
        "clip"
    ]


def test_unknown_schema_version_is_refused() -> None:
    data = timeline().to_dict() | {"schema_version": 99}
    with pytest.raises(ValueError, match="schema_version=99"):
        ActionTimeline.from_dict(data)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"threshold": -0.1}, "threshold=-0.1"),
        (
            {"threshold": 0.5, "off_threshold": 0.6},
            "off_threshold=0.6: must be a number >= 0 and <= 0.5 \\(the on threshold\\)",
        ),
        ({"off_threshold": -1}, "off_threshold=-1"),
        ({"min_duration_s": -1}, "min_duration_s=-1"),
        ({"max_gap_s": -0.5}, "max_gap_s=-0.5"),
        ({"period_s": 0}, "period_s=0"),
    ],
)
def test_bad_rules(rule: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimelineRule(**rule)


# ---------------------------------------------------------------- the results JSON schema
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "results_schema.json"


def tracked_detections() -> Detections:
    return Detections(
        boxes=[[10, 20, 110, 220], [200, 40, 300, 230], [12, 20, 112, 220]],
        person_scores=[0.99, 0.85, 0.97],
        action_scores=[[0.9, 0.1], [0.2, 0.7], [0.8, 0.3]],
        class_names=("stand", "sit"),
        frame_size=(320, 240),
        timestamps=[0.0, 0.0, 1.0],
        video_id="demo",
        track_ids=[1, -1, 1],
    )


def test_detections_tracks_and_timeline_in_one_versioned_document() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    detections = tracked_detections()
    timeline_ = detections.timeline(threshold=0.5)
    text = detections.to_json(timeline=timeline_)
    data = json.loads(text)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))  # the documented layout
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["tracks"] == [
        {"track_id": 1, "timestamps": [0.0, 1.0], "boxes": [[10, 20, 110, 220], [12, 20, 112, 220]]}
    ]
    assert Detections.from_json(text) == detections
    assert ActionTimeline.from_json(text) == timeline_
    untracked = Detections.from_json(detections.to_json())
    jsonschema.validate(json.loads(detections.to_json()), json.loads(SCHEMA_PATH.read_text()))
    with pytest.raises(ValueError, match="has no timeline"):
        ActionTimeline.from_json(untracked.to_json())


def test_schema_rejects_what_readers_reject() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = tracked_detections().to_dict()
    schema = json.loads(SCHEMA_PATH.read_text())
    for broken in (data | {"schema_version": 2}, data | {"track_ids": [1, -2, 1]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    with pytest.raises(ValueError, match="schema_version=2"):
        Detections.from_dict(data | {"schema_version": 2})
    with pytest.raises(ValueError, match="track_ids must be >= 0, or -1"):
        Detections.from_dict(data | {"track_ids": [1, -2, 1]})


def test_drawings_colour_by_track_and_label_with_its_id() -> None:
    detections = tracked_detections()
    labels, keys = detections.drawing_keys(top_k=1)
    assert labels == ["#1 stand 0.90", "sit 0.70", "#1 stand 0.80"]  # the untracked row: no id
    assert keys.tolist() == [1, -1, 1]
    frame = np.zeros((240, 320, 3), np.uint8)
    drawn = detections[[0]].draw(frame)
    other = replace(detections, track_ids=[2, -1, 2])[[0]].draw(frame)
    assert drawn[20, 10].tolist() != other[20, 10].tolist()  # another track, another colour
