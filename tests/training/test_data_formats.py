"""Readers of the real annotation formats, on small hand-written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.data.ava_annotations import (
    build_keyframes,
    label_detections,
    read_excluded_timestamps,
    read_ground_truth,
    read_person_boxes,
)
from training.data.classification_files import (
    read_kinetics_csv,
    read_mit_categories,
    read_mit_csv,
    read_ssv2_annotations,
    read_ssv2_labels,
)

AVA_GT = """\
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,9,1
-5KQ66BBWC4,0902,0.226,0.032,0.366,0.497,12,0
-5KQ66BBWC4,0903,0.1,0.1,0.5,0.9,12,0
1j20qq1JyX4,1798,0.5,0.5,0.9,0.9,17,3
"""
AVA_DETECTIONS = """\
-5KQ66BBWC4,0902,0.08,0.15,0.28,0.80,,0.99
-5KQ66BBWC4,0902,0.60,0.60,0.70,0.70,,0.85
-5KQ66BBWC4,0902,0.60,0.10,0.70,0.20,,0.30
-5KQ66BBWC4,0904,0.20,0.20,0.40,0.40,,0.95
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_ground_truth_merges_rows_of_one_person(tmp_path: Path) -> None:
    gt = read_ground_truth(write(tmp_path / "gt.csv", AVA_GT))
    assert set(gt) == {("-5KQ66BBWC4", 902), ("-5KQ66BBWC4", 903), ("1j20qq1JyX4", 1798)}
    persons = gt[("-5KQ66BBWC4", 902)]
    assert [sorted(p.action_ids) for p in persons] == [[9, 80], [12]]
    assert persons[0].box == pytest.approx((0.077, 0.151, 0.283, 0.811))
    assert persons[0].person_id == 1


def test_ground_truth_2020_forms(tmp_path: Path) -> None:
    """Keyframes without actions (2-column rows), float timestamps, no person id."""
    text = "vid,902.000000\nvid,903.500000,0.1,0.1,0.2,0.2,5\n"
    gt = read_ground_truth(write(tmp_path / "gt.csv", text))
    assert gt[("vid", 902)] == []
    assert gt[("vid", 903.5)][0].person_id == -1


def test_person_boxes_filter_by_score(tmp_path: Path) -> None:
    dets = read_person_boxes(write(tmp_path / "det.csv", AVA_DETECTIONS), min_score=0.8)
    boxes, scores = dets[("-5KQ66BBWC4", 902)]
    assert boxes.shape == (2, 4) and scores.tolist() == pytest.approx([0.99, 0.85])
    assert ("-5KQ66BBWC4", 904) in dets


def test_excluded_timestamps(tmp_path: Path) -> None:
    excluded = read_excluded_timestamps(write(tmp_path / "ex.csv", "vid,0905\nvid,906\n"))
    assert excluded == {("vid", 905), ("vid", 906)}


def test_label_detections_by_best_iou() -> None:
    gt_boxes = np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], np.float32)
    gt_targets = np.array([[1, 0], [0, 1]], np.float32)
    dets = np.array([[0.02, 0, 0.5, 0.5], [0.6, 0.6, 1, 1], [0, 0.6, 0.2, 1]], np.float32)
    targets = label_detections(dets, gt_boxes, gt_targets)
    assert targets.tolist() == [[1, 0], [0, 1], [0, 0]]


@pytest.mark.parametrize(
    ("boxes", "unlabelled", "expected_counts"),
    [
        ("gt", False, {902: 2, 903: 1}),
        ("detected", False, {902: 2}),  # 903 has no detection ≥ 0.8 → dropped
        ("both", False, {902: 4, 903: 1}),
        ("detected", True, {902: 2, 904: 1}),  # evaluation keeps unlabelled keyframes
    ],
)
def test_build_keyframes_box_sources(
    tmp_path: Path, boxes: str, unlabelled: bool, expected_counts: dict
) -> None:
    gt = read_ground_truth(write(tmp_path / "gt.csv", AVA_GT))
    dets = read_person_boxes(write(tmp_path / "det.csv", AVA_DETECTIONS), min_score=0.8)
    frames = build_keyframes(
        gt,
        dets,
        class_ids=list(range(1, 81)),
        boxes=boxes,
        keyframe_range=(902, 1797),
        include_unlabelled=unlabelled,
    )
    assert {f.timestamp: len(f.boxes) for f in frames} == expected_counts
    first = frames[0]
    assert first.targets.shape == (len(first.boxes), 80)
    if (
        boxes == "detected"
    ):  # the 0.99 detection matches person 1 (actions 9, 80); the other is a negative
        assert np.flatnonzero(first.targets[0]).tolist() == [8, 79]
        assert first.targets[1].sum() == 0


def test_build_keyframes_excluded_and_label_subset(tmp_path: Path) -> None:
    gt = read_ground_truth(write(tmp_path / "gt.csv", AVA_GT))
    frames = build_keyframes(gt, None, class_ids=[9, 12], excluded={("-5KQ66BBWC4", 903)})
    assert [(f.video_id, f.timestamp) for f in frames] == [
        ("-5KQ66BBWC4", 902),
        ("1j20qq1JyX4", 1798),
    ]
    assert frames[0].targets.tolist() == [[1, 0], [0, 1]]  # id 80 is not in the 2-class map
    assert frames[1].targets.tolist() == [[0, 0]]


def test_kinetics_csv(tmp_path: Path) -> None:
    text = 'label,youtube_id,time_start,time_end,split\n"air drumming",--07WQ2iBlw,1,11,train\nabseiling,0347ZoDXyP0,14,24,train\n'
    records = read_kinetics_csv(write(tmp_path / "train.csv", text))
    assert records[0].label == "air drumming"
    assert records[0].video_stem == "--07WQ2iBlw_000001_000011"


def test_mit_csv_and_categories(tmp_path: Path) -> None:
    cats = read_mit_categories(write(tmp_path / "cat.txt", "clapping,1\naiming,0\n"))
    assert cats == ["aiming", "clapping"]
    rows = read_mit_csv(write(tmp_path / "t.csv", "aiming/yt-abc_1.mp4,aiming,3,4\n"))
    assert rows == [("aiming/yt-abc_1.mp4", "aiming")]


def test_ssv2_json(tmp_path: Path) -> None:
    labels = read_ssv2_labels(
        write(
            tmp_path / "labels.json",
            json.dumps({"Holding something": "0", "Pushing something from left to right": "1"}),
        )
    )
    entries = [
        {
            "id": "78687",
            "label": "pushing a cup from left to right",
            "template": "Pushing [something] from left to right",
            "placeholders": ["a cup"],
        },
        {
            "id": "42326",
            "label": "holding potato",
            "template": "Holding [something]",
            "placeholders": ["potato"],
        },
    ]
    records = read_ssv2_annotations(write(tmp_path / "train.json", json.dumps(entries)), labels)
    assert records == [("78687", 1), ("42326", 0)]


GOOD_GT = "vid,0902,0.1,0.1,0.5,0.5,12,0\n"


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        (
            read_ground_truth,
            GOOD_GT + "vid,0902,0.1,0.1,0.5\n",
            ":2: expected 2, 7 or 8 columns, got 5",
        ),
        (
            read_ground_truth,
            GOOD_GT + "vid,09x2,0.1,0.1,0.5,0.5,12,0\n",
            ":2: column 2 is not a number: '09x2' (timestamp)",
        ),
        (
            read_ground_truth,
            GOOD_GT + "vid,0902,abc,0.1,0.5,0.5,12,0\n",
            ":2: column 3 is not a number: 'abc' (x1)",
        ),
        (
            read_ground_truth,
            GOOD_GT + "vid,0902,10,20,300,400,12,0\n",
            ":2: box coordinates must lie in [0, 1] (normalised)",
        ),
        (
            read_ground_truth,
            GOOD_GT + "vid,0902,0.5,0.1,0.1,0.5,12,0\n",
            ":2: box must have x1 <= x2 and y1 <= y2",
        ),
        (
            read_ground_truth,
            GOOD_GT + "vid,0902,0.1,0.1,0.5,0.5,walk,0\n",
            ":2: column 7 is not a number: 'walk' (action_id)",
        ),
        (read_ground_truth, "vid\n", ":1: expected 2, 7 or 8 columns, got 1"),
        (read_person_boxes, "vid,0902,0.1,0.1,0.5,0.5,\n", ":1: expected 8 columns, got 7"),
        (
            read_person_boxes,
            "vid,0902,0.1,0.1,0.5,0.5,,high\n",
            ":1: column 8 is not a number: 'high' (score)",
        ),
        (
            read_excluded_timestamps,
            "vid,0902\nvid,\n",
            ":2: column 2 is not a number: '' (timestamp)",
        ),
        (
            read_kinetics_csv,
            "youtube_id,time_start,time_end\nabc,1,11\n",
            ":1: header must contain",
        ),
        (
            read_kinetics_csv,
            "label,youtube_id,time_start,time_end,split\nx,abc,one,11,train\n",
            ":2: time_start 'one'",
        ),
        (
            read_kinetics_csv,
            "label,youtube_id,time_start,time_end,split\nx,abc,11,1,train\n",
            ":2: time_end 1.0 <= time_start 11.0",
        ),
        (
            read_kinetics_csv,
            "label,youtube_id,time_start,time_end,split\nx,abc\n",
            ":2: expected 5 columns",
        ),
        (read_mit_categories, "a,0\nb,zero\n", ":2: index 'zero' is not an integer"),
        (read_mit_categories, "a,0\nb,2\n", "category indices must be 0..1"),
        (read_mit_csv, "a/x.mp4,a,3,4\nb/y.mp4\n", ":2: expected at least 2 columns"),
        (read_ssv2_labels, '{"Holding something": "zero"}', "non-integer index"),
        (read_ssv2_labels, '{"Holding something": "0",\n', ":2: invalid JSON"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, reader, text: str, message: str) -> None:  # noqa: ANN001
    path = write(tmp_path / "input.txt", text)
    with pytest.raises(ValueError) as excinfo:
        reader(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"id": "1"}], "entry 0 must be an object with 'id' and 'template'"),
        (
            [{"id": "1", "template": "Juggling [something]"}],
            "entry 0 (id 1) has template 'Juggling something' not in the labels",
        ),
        ({"id": "1"}, "expected a JSON list"),
    ],
)
def test_malformed_ssv2_entries(tmp_path: Path, entries, message: str) -> None:  # noqa: ANN001
    path = write(tmp_path / "train.json", json.dumps(entries))
    with pytest.raises(ValueError, match=None) as excinfo:
        read_ssv2_annotations(path, {"Holding something": 0})
    assert message in str(excinfo.value) and str(path) in str(excinfo.value)
