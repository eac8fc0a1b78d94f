"""AVA frame-mAP evaluator: one hand-worked case per protocol rule, input validation,
the CLI and warnings (the randomized reference comparison: test_ava_eval_reference.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _plot_reading import read_bars

from cofin_sdk.cli.main import main as cofin_main
from training.evaluation._ava_core import iou_pairs, match_detections
from training.evaluation.ava import (
    AvaRows,
    class_groups,
    count_training_labels,
    evaluate_ava,
    evaluate_ava_files,
    read_ava_csv,
    read_exclusions,
    read_label_map,
)

EVALUATED_60 = [
    1,
    *range(3, 16),
    17,
    20,
    22,
    24,
    *range(26, 31),
    34,
    *range(36, 39),
    41,
    43,
    *range(45, 50),
    51,
    52,
    54,
    *range(56, 71),
    *range(72, 75),
    *range(76, 81),
]
FULL = [0.0, 0.0, 1.0, 1.0]
LEFT = [0.0, 0.0, 0.5, 1.0]  # IoU(FULL, LEFT) == 0.5 exactly
RIGHT = [0.5, 0.0, 1.0, 1.0]
TWO = {1: "one", 2: "two"}


def rows(spec: list[tuple], scored: bool = True) -> AvaRows:
    """``[(video, ts, box, label, score)]`` → AvaRows."""
    if not spec:
        return AvaRows.from_arrays([], [], np.zeros((0, 4)), [], [] if scored else None)
    video, ts, box, label, *score = zip(*spec)
    return AvaRows.from_arrays(video, ts, box, label, score[0] if scored else None)


def gt_rows(spec: list[tuple]) -> AvaRows:
    return rows([(v, t, b, a, 1.0) for v, t, b, a in spec], scored=False)


def ap_of(gt: list[tuple], det: list[tuple], **kwargs) -> np.ndarray:
    return evaluate_ava(gt_rows(gt), rows(det), kwargs.pop("label_map", TWO), **kwargs).ap


# --------------------------------------------------------------------------- protocol rules


def test_duplicate_on_matched_groundtruth_is_false_positive() -> None:
    # TP(0.9), duplicate FP(0.8), TP(0.7): precision 1, 1/2, 2/3; recall .5, .5, 1.
    # Interpolated precision at the recall steps: 1 and 2/3 → AP = .5 * 1 + .5 * 2/3.
    gt = [("v", 902, LEFT, 1), ("v", 902, RIGHT, 1)]
    det = [("v", 902, LEFT, 1, 0.9), ("v", 902, LEFT, 1, 0.8), ("v", 902, RIGHT, 1, 0.7)]
    assert ap_of(gt, det)[0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)


def test_hand_computed_precision_recall_curve() -> None:
    # Order: FP(.9) TP(.8) FP(.7) TP(.6) with 3 GT boxes.
    # precision 0, 1/2, 1/3, 1/2 → monotone 1/2, 1/2, 1/2, 1/2; recall 0, 1/3, 1/3, 2/3.
    # AP = 1/3 * 1/2 + 1/3 * 1/2 = 1/3 (11-point interpolation would give 4/11 * ... ≠).
    boxes = [[0.0, 0.0, 0.2, 0.2], [0.4, 0.4, 0.6, 0.6], [0.8, 0.8, 1.0, 1.0]]
    gt = [("v", 902, b, 1) for b in boxes]
    det = [
        ("v", 902, [0.2, 0.6, 0.3, 0.7], 1, 0.9),
        ("v", 902, boxes[0], 1, 0.8),
        ("v", 903, boxes[0], 1, 0.7),
        ("v", 902, boxes[1], 1, 0.6),
    ]
    assert ap_of(gt, det)[0] == pytest.approx(1 / 3, abs=1e-12)


@pytest.mark.parametrize(
    ("det_box", "is_tp"),
    [(LEFT, True), ([0.0, 0.0, 0.4999, 1.0], False), (FULL, True)],
    ids=["iou-exactly-0.5", "iou-just-below", "iou-1"],
)
def test_iou_threshold_is_inclusive(det_box: list[float], is_tp: bool) -> None:
    ap = ap_of([("v", 902, FULL, 1)], [("v", 902, det_box, 1, 0.9)])
    assert ap[0] == (1.0 if is_tp else 0.0)


def test_iou_uses_areas_without_plus_one_and_xy_columns() -> None:
    box = np.array([[0.1, 0.2, 0.3, 0.8]])  # x1, y1, x2, y2
    transposed = np.array([[0.2, 0.1, 0.8, 0.3]])
    assert iou_pairs(box, box)[0] == 1.0
    # intersection 0.1 x 0.1, areas 0.2*0.6 each: IoU = 0.01 / (0.24 - 0.01).
    assert iou_pairs(box, transposed)[0] == pytest.approx(0.01 / 0.23, rel=1e-12)


def test_each_detection_takes_its_highest_iou_box_even_if_matched() -> None:
    # Det 2 overlaps A (IoU 1) and B (IoU .5): its best box A is taken → FP, not TP on B.
    a, b = [0.0, 0.0, 0.5, 1.0], [0.25, 0.0, 0.75, 1.0]
    tp = match_detections(
        np.array([7, 7]), np.array([a, a]), np.array([7, 7]), np.array([a, b]), 0.5
    )
    assert tp.tolist() == [True, False]


def test_cap_keeps_fifty_highest_scores_per_keyframe() -> None:
    gt = [("v", 902, FULL, 1), ("v", 902, LEFT, 2)]
    noise = [("v", 902, RIGHT, 2, 0.5 + i / 1000) for i in range(50)]
    det = [("v", 902, FULL, 1, 0.4), *noise]  # the TP has the 51st-highest score
    assert ap_of(gt, det)[0] == 0.0
    assert ap_of(gt, det, max_detections_per_keyframe=None)[0] == 1.0
    assert ap_of(gt, det[:50])[0] == 1.0  # only 50 rows: nothing dropped


def test_cap_counts_only_evaluated_classes() -> None:
    gt = [("v", 902, FULL, 1)]
    other = [("v", 902, RIGHT, 2, 0.9)] * 60  # class 2 not in this label map
    det = [*other, ("v", 902, FULL, 1, 0.1)]
    assert ap_of(gt, det, label_map={1: "one"})[0] == 1.0


def test_cap_tie_at_boundary_follows_file_order_like_the_official_heap() -> None:
    # 49 rows above, then two tied rows at the boundary: the heap keeps the first one read.
    gt = [("v", 902, FULL, 1)]
    top = [("v", 902, RIGHT, 2, 0.9)] * 49
    tp_first = [*top, ("v", 902, FULL, 1, 0.5), ("v", 902, RIGHT, 2, 0.5)]
    tp_last = [*top, ("v", 902, RIGHT, 2, 0.5), ("v", 902, FULL, 1, 0.5)]
    assert ap_of(gt, tp_first)[0] == 1.0
    assert ap_of(gt, tp_last)[0] == 0.0


def test_excluded_keyframes_are_ignored() -> None:
    gt = [("v", 902, FULL, 1), ("v", 903, FULL, 1)]
    det = [("v", 902, FULL, 1, 0.9), ("v", 903, [0.1, 0.1, 0.2, 0.2], 1, 0.95)]
    assert ap_of(gt, det)[0] == pytest.approx(0.5 * 0.5)  # FP first, then 1 of 2 GT
    result = evaluate_ava(gt_rows(gt), rows(det), TWO, exclusions=[("v", 903)])
    assert result.ap[0] == 1.0 and result.num_groundtruth[0] == 1


@pytest.mark.parametrize(("mode", "expected"), [("2019", 0.5), ("2020", 1.0)])
def test_detections_on_keyframes_without_groundtruth(mode: str, expected: float) -> None:
    gt = [("v", 902, FULL, 1)]
    det = [("v", 950, FULL, 1, 0.9), ("v", 902, FULL, 1, 0.8)]
    assert ap_of(gt, det, mode=mode)[0] == expected


def test_2020_keyframe_only_rows_make_detections_count_as_false_positives(tmp_path: Path) -> None:
    (tmp_path / "gt.csv").write_text("v,902.000000,0,0,1,1,1,0\nv,903.500000\n")
    (tmp_path / "det.csv").write_text(
        "v,902.000000,0,0,1,1,1,0.8\nv,903.500000,0,0,1,1,1,0.9\nv,904.000000,0,0,1,1,1,0.99\n"
    )
    (tmp_path / "map.pbtxt").write_text('item { name: "one" id: 1 }\n')
    result = evaluate_ava_files(
        tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt", mode="2020"
    )
    assert result.ap[0] == 0.5  # 903.5 is an FP above the TP; 904 is not a GT keyframe
    with pytest.raises(ValueError, match=r"gt\.csv:2: expected 7 or 8 columns, got 2"):
        evaluate_ava_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt")


def test_classes_without_groundtruth_are_not_averaged() -> None:
    result = evaluate_ava(
        gt_rows([("v", 902, FULL, 1)]), rows([("v", 902, FULL, 2, 0.9)]), {1: "a", 2: "b", 3: "c"}
    )
    assert result.ap[0] == 0.0 and np.isnan(result.ap[1:]).all()
    assert result.mAP == 0.0


def test_multilabel_person_repeats_the_box() -> None:
    gt = [("v", 902, LEFT, 1), ("v", 902, LEFT, 2), ("v", 902, RIGHT, 2)]
    det = [
        ("v", 902, LEFT, 1, 0.9),
        ("v", 902, LEFT, 2, 0.8),
        ("v", 902, RIGHT, 2, 0.7),
        ("v", 902, RIGHT, 1, 0.6),
    ]
    result = evaluate_ava(gt_rows(gt), rows(det), TWO)
    assert result.ap.tolist() == [1.0, 1.0]
    assert result.num_groundtruth.tolist() == [1, 2]


def test_zero_area_detections_are_discarded_not_false_positives() -> None:
    det = [("v", 902, [0.3, 0.3, 0.3, 0.6], 1, 0.99), ("v", 902, FULL, 1, 0.5)]
    assert ap_of([("v", 902, FULL, 1)], det)[0] == 1.0


def test_sixty_of_eighty_classes_from_the_2019_label_map(tmp_path: Path) -> None:
    blocks = [
        f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}'
        for i in EVALUATED_60
    ]
    (tmp_path / "map.pbtxt").write_text("\n".join(blocks) + "\n")
    names, class_ids = read_label_map(tmp_path / "map.pbtxt")
    assert class_ids == EVALUATED_60 and len(class_ids) == 60 and names[80] == "action 80"
    gt = [("v", 902, FULL, 1), ("v", 902, FULL, 2)]  # 2 is trained but not evaluated
    result = evaluate_ava(gt_rows(gt), rows([("v", 902, FULL, 2, 0.9)]), names)
    assert len(result.class_ids) == 60 and 2 not in result.class_ids
    assert result.mAP == 0.0  # only class 1 has GT; class 2 detections are not read


def test_label_map_2018_form(tmp_path: Path) -> None:
    (tmp_path / "m.pbtxt").write_text(
        'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem {\n  name: "crawl"\n  id: 2\n}\n'
    )
    assert read_label_map(tmp_path / "m.pbtxt") == (
        {1: "bend/bow (at the waist)", 2: "crawl"},
        [1, 2],
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('item { name: "a" }\n', "m.pbtxt:1: item block has no id"),
        (
            'item { name: "a" id: 1 }\nitem { name: "b" id: 1 }\n',
            "m.pbtxt:2: class id 1 appears twice",
        ),
        ("nothing here\n", "no 'item"),
    ],
)
def test_label_map_errors(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "m.pbtxt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_label_map(tmp_path / "m.pbtxt")


def test_head_mid_tail_groups_and_json(tmp_path: Path) -> None:
    groups = class_groups({1: 10_001, 2: 10_000, 3: 1_000, 4: 999}, [1, 2, 3, 4, 5])
    assert groups == {1: "head", 2: "mid", 3: "mid", 4: "tail", 5: "tail"}
    gt = [("v", 902, FULL, 1), ("v", 902, FULL, 2)]
    result = evaluate_ava(
        gt_rows(gt),
        rows([("v", 902, FULL, 1, 0.9)]),
        TWO,
        train_counts={1: 50, 2: 5},
        head_threshold=20,
        tail_threshold=10,
    )
    assert list(result.groups) == ["head", "tail"] and result.group_mAP["head"] == 1.0
    assert np.isnan(result.group_mAP["mid"]) and result.group_mAP["tail"] == 0.0
    data = json.loads(result.to_json(tmp_path / "r.json"))
    assert data["mAP@0.5IOU"] == 0.5 and data["group_mAP"]["mid"] is None
    assert json.loads((tmp_path / "r.json").read_text()) == data
    train = gt_rows([("v", 902, FULL, 1)] * 3 + [("v", 903, FULL, 2)])
    assert count_training_labels(train, [1, 2, 3]) == {1: 3, 2: 1, 3: 0}


# --------------------------------------------------------------------------- input validation

GOOD = "v1,0902,0.1,0.2,0.3,0.4,12,0.5"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("v1,0902,0.1,0.2,0.3,0.4,12", "expected 8 columns, got 7"),
        ("v1,0902,0.1,0.2,0.3,0.4,12,0.5,9", "expected 8 columns, got 9"),
        ("v1,0902,0.1,abc,0.3,0.4,12,0.5", r"column 4 is not a number: 'abc' \(y1\)"),
        ("v1,0902,0.1,0.2,0.3,nan,12,0.5", "box coordinates must be finite"),
        ("v1,0902,0.1,0.2,1.3,0.4,12,0.5", r"box coordinates must lie in \[0, 1\]"),
        ("v1,0902,0.3,0.2,0.1,0.4,12,0.5", "box must have x1 <= x2"),
        ("v1,0902,0.1,0.2,0.3,0.4,12.5,0.5", "action id must be an integer"),
        ("v1,0902,0.1,0.2,0.3,0.4,0,0.5", "action id must be an integer >= 1"),
        ("v1,0902,0.1,0.2,0.3,0.4,81,0.5", "unknown action id"),
        ("v1,0902,0.1,0.2,0.3,0.4,12,inf", "score must be a finite number"),
        ("v1,0902,0.1,0.2,0.3,0.4,12,", r"column 8 is not a number: '' \(score\)"),
        ("v1,-3,0.1,0.2,0.3,0.4,12,0.5", "timestamp must be a finite number >= 0"),
        ("v1,0902", "expected 8 columns, got 2"),
    ],
)
def test_malformed_detection_rows_name_file_and_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "det.csv"
    path.write_text(f"{GOOD}\n{GOOD}\n{line}\n{GOOD}\n")
    with pytest.raises(ValueError, match=rf"det\.csv:3: {reason}"):
        read_ava_csv(path, kind="detections", max_class_id=80)


def test_valid_files_parse(tmp_path: Path) -> None:
    (tmp_path / "gt.csv").write_text("v1,0902,0.1,0.2,0.3,0.4,12,3\nv1,0902,0.1,0.2,0.3,0.4,14\n\n")
    gt = read_ava_csv(tmp_path / "gt.csv", kind="groundtruth")
    assert gt.scores.tolist() == [3.0, 1.0] and gt.labels.tolist() == [12, 14]
    assert gt.timestamps.tolist() == [902.0, 902.0] and list(gt.video_names) == ["v1"]
    (tmp_path / "ex.csv").write_text("v1,0903\n")
    assert read_exclusions(tmp_path / "ex.csv") == [("v1", 903.0)]
    (tmp_path / "bad_ex.csv").write_text("v1,0903\nv1\n")
    with pytest.raises(ValueError, match="bad_ex.csv:2: expected 2 columns"):
        read_exclusions(tmp_path / "bad_ex.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_ava_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "2021"}, "mode must be one of"),
        ({"mode": "2020", "exclusions": [("v", 902)]}, "2020 mode has no exclusions"),
    ],
)
def test_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate_ava(gt_rows([("v", 902, FULL, 1)]), rows([]), TWO, **kwargs)


def test_in_memory_rows_are_validated() -> None:
    with pytest.raises(ValueError, match="row 2: box coordinates must lie"):
        AvaRows.from_arrays(["a", "a"], [1, 1], [FULL, [0, 0, 2, 1]], [1, 1], [0.5, 0.5])


# --------------------------------------------------------------------------- CLI


def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gt.csv").write_text(
        "v,0902,0,0,0.5,1,1,0\nv,0902,0.5,0,1,1,1,1\nv,0903,0,0,1,1,2,0\n"
    )
    (tmp_path / "det.csv").write_text(
        "v,0902,0,0,0.5,1,1,0.9\nv,0902,0,0,0.5,1,1,0.8\nv,0902,0.5,0,1,1,1,0.7\nv,0903,0,0,1,1,2,0.3\n"
    )
    (tmp_path / "ex.csv").write_text("v,0903\n")
    (tmp_path / "map.pbtxt").write_text(
        'label { name: "one" label_id: 1 label_type: PERSON_MOVEMENT }\n'
        'label { name: "two" label_id: 2 label_type: PERSON_MOVEMENT }\n'
    )
    (tmp_path / "train.csv").write_text("v,0902,0,0,1,1,1,0\n" * 3 + "v,0902,0,0,1,1,2,0\n")
    args = [
        "eval-ava",
        "--groundtruth",
        str(tmp_path / "gt.csv"),
        "--detections",
        str(tmp_path / "det.csv"),
        "--labelmap",
        str(tmp_path / "map.pbtxt"),
        "--json",
        str(tmp_path / "out.json"),
    ]
    assert cofin_main(args) == 0
    assert "mAP@0.5IOU = 0.916667" in capsys.readouterr().out  # (5/6 + 1) / 2
    assert (
        cofin_main(
            [
                *args,
                "--exclusions",
                str(tmp_path / "ex.csv"),
                "--train-labels",
                str(tmp_path / "train.csv"),
                "--head-threshold",
                "2",
                "--tail-threshold",
                "2",
                "--plot",
                str(tmp_path / "ap.png"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mAP@0.5IOU = 0.833333" in out and "head" in out
    data = json.loads((tmp_path / "out.json").read_text())
    assert [c["group"] for c in data["classes"]] == ["head", "tail"] and data["classes"][1][
        "ap"
    ] is None
    _, bars = read_bars(tmp_path / "ap.png")
    assert [group for group, _ in bars] == ["head"]  # the tail class has no AP: no bar
    (tmp_path / "det.csv").write_text("v,0902,0,0,0.5,1,1\n")
    assert cofin_main(args) == 1
    assert "det.csv:1: expected 8 columns, got 7" in capsys.readouterr().err


# --------------------------------------------------------------------------- warnings, start-up


@pytest.mark.parametrize(
    ("gt", "det", "warning"),
    [
        ("", "v,902,0,0,1,1,1,0.5\n", "has no boxes: every AP will be NaN"),
        ("v,902,0,0,1,1,1,0\n", "", "are empty: every AP will be 0"),
        ("v,902,0,0,1,1,1,0\n", "v,902,0,0,1,1,1,1.5\nv,902,0,0,1,1,1,-2\n", "2 detection scores"),
    ],
    ids=["empty-groundtruth", "empty-detections", "scores-outside-0-1"],
)
def test_eval_warns_once_about_suspicious_inputs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, gt: str, det: str, warning: str
) -> None:
    (tmp_path / "gt.csv").write_text(gt)
    (tmp_path / "det.csv").write_text(det)
    (tmp_path / "map.pbtxt").write_text('item { name: "one" id: 1 }\n')
    with caplog.at_level("WARNING", logger="training.evaluation.ava"):
        evaluate_ava_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warning in warnings[0]


def test_eval_ava_command_imports_neither_torch_nor_pandas(tmp_path: Path) -> None:
    (tmp_path / "gt.csv").write_text("v,902,0,0,1,1,1,0\n")
    (tmp_path / "det.csv").write_text("v,902,0,0,1,1,1,0.9\n")
    (tmp_path / "map.pbtxt").write_text('item { name: "one" id: 1 }\n')
    code = (
        "import sys; from cofin_sdk.cli.main import main; "
        "code = main(['eval-ava', '--groundtruth', 'gt.csv', '--detections', 'det.csv', "
        "'--labelmap', 'map.pbtxt']); "
        "print(code, sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "mAP@0.5IOU = 1.000000" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "0 []"
