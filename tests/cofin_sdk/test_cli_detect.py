"""``cofin detect`` / ``cofin classify`` round trips through ``cofin_sdk.cli.main.main``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from _fixtures import tiny_model

from cofin_sdk.cli.main import main
from cofin_sdk.io.video import probe, write_video
from cofin_sdk.results import Classifications, Detections

ACTIONS = ["stand", "sit", "walk"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(
        num_frames=4,
        image_size=32,
        heads={
            "ava": {"task": "detection", "num_classes": 3, "class_names": ACTIONS},
            "kinetics": {"task": "classification", "num_classes": 4},
        },
    )
    return model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny"))


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("video") / "clip01.mp4"
    write_video(path, rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8), fps=10)
    return path


def test_detect_round_trip_with_ava_boxes(model_dir, video, tmp_path, capsys):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "clip01,900,0.1,0.1,0.5,0.9,,0.95\n"
        "clip01,902,0.2,0.0,1.0,1.0,,0.9\n"
        "clip01,902,0.0,0.5,0.3,1.0,,0.85\n"
        "other,902,0.0,0.0,1.0,1.0,,0.99\n"
    )
    out = {"json": tmp_path / "det.json", "csv": tmp_path / "det.csv", "out": tmp_path / "a.mp4"}
    code = main(
        ["detect", str(video), "--model", str(model_dir), "--boxes", str(boxes),
         "--time-offset", "900", "--threshold", "0.1", "--no-progress"]
        + [arg for key, path in out.items() for arg in (f"--{key}", str(path))]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 person boxes on 2 keyframe(s)" in printed and "ava_csv" in printed
    assert all(f"wrote {path}" in printed for path in out.values())

    result = Detections.from_json(out["json"])
    assert result.timestamps.tolist() == [0.0, 2.0, 2.0]
    assert result.class_names == tuple(ACTIONS) and result.frame_size == (64, 48)
    np.testing.assert_allclose(result.normalized_boxes[1], [0.2, 0.0, 1.0, 1.0], atol=1e-6)

    with out["csv"].open() as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 3 * len(ACTIONS)  # one row per (box, class), AVA submission format
    assert {row[0] for row in rows} == {"clip01"} and {row[1] for row in rows} == {"900", "902"}
    for row in rows:
        assert len(row) == 8 and int(row[6]) in (1, 2, 3)
        assert all(0.0 <= float(v) <= 1.0 for v in row[2:6] + [row[7]])

    info = probe(out["out"])
    assert (info.width, info.height, info.num_frames) == (64, 48, 40)


def test_detect_default_person_detector_and_every(model_dir, video, tmp_path, capsys):
    json_path = tmp_path / "det.json"
    code = main(["detect", str(video), "--model", str(model_dir), "--every", "2",
                 "--json", str(json_path), "--no-progress"])  # fmt: skip
    assert code == 0
    result = Detections.from_json(json_path)
    assert result.detector == "opencv_hog"  # noise frames: typically no person at all
    assert "keyframe(s) with people" in capsys.readouterr().out


def test_classify_round_trip(model_dir, video, tmp_path, capsys):
    json_path = tmp_path / "cls.json"
    code = main(["classify", str(video), "--model", str(model_dir), "--head", "kinetics",
                 "--top-k", "2", "--num-clips", "2", "--json", str(json_path), "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "head 'kinetics', 2 clip(s)" in printed and "  2. class_" in printed
    result = Classifications.from_json(json_path)
    assert result.num_clips == 2 and result.head == "kinetics"
    assert json.loads(json_path.read_text())["probabilities"] == pytest.approx(
        result.probabilities.tolist()
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["classify", "{video}", "--model", "{model}", "--head", "ava"], "is a detection head"),
        (["detect", "{video}", "--model", "{model}", "--head", "x"], "--head 'x': no such head"),
        (["detect", "/nope.mp4", "--model", "{model}"], "not found"),
        (["detect", "{video}", "--model", "/no/model"], "model folder not found: /no/model"),
        (
            ["detect", "{video}", "--model", "{model}", "--person-detector", "yolo"],
            "unknown person",
        ),
    ],
)
def test_cli_errors_are_one_line(model_dir, video, capsys, argv, message):
    argv = [a.format(video=video, model=model_dir) for a in argv] + ["--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_person_detector_csv_path_equals_boxes(model_dir, video, tmp_path):
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("clip01,1,0.1,0.1,0.5,0.9,,0.95\n")
    outputs = []
    for flag in ("--boxes", "--person-detector"):
        path = tmp_path / f"{flag.strip('-')}.json"
        argv = ["detect", str(video), "--model", str(model_dir), flag, str(boxes)]
        assert main([*argv, "--json", str(path), "--no-progress"]) == 0
        outputs.append(Detections.from_json(path))
    assert outputs[0] == outputs[1] and len(outputs[0]) == 1


def test_detect_track_keeps_ground_truth_person_ids(model_dir, video, tmp_path):
    """--boxes-person-ids: an AVA ground-truth CSV's column 8 becomes the track ids, even for
    two people who swap places (which tracking alone would not follow)."""
    gt = tmp_path / "gt.csv"
    rows = []
    for t in range(4):
        left, right = ("0.05,0.1,0.35,0.9", "0.6,0.1,0.95,0.9")
        first, second = (left, right) if t < 2 else (right, left)
        rows += [f"clip01,{900 + t},{first},12,7\n", f"clip01,{900 + t},{first},3,7\n"]
        rows.append(f"clip01,{900 + t},{second},12,4\n")
    gt.write_text("".join(rows))
    json_path = tmp_path / "d.json"
    code = main(
        ["detect", str(video), "--model", str(model_dir), "--boxes", str(gt), "--boxes-person-ids",
         "--time-offset", "900", "--no-progress", "--track", "--json", str(json_path)]
    )  # fmt: skip
    assert code == 0
    result = Detections.from_json(json_path)
    assert len(result) == 8  # one box per person and keyframe (action rows merged)
    left_ids = [int(i) for b, i in zip(result.boxes, result.track_ids, strict=True) if b[0] < 32]
    assert left_ids == [7, 7, 4, 4]


def test_detect_track_writes_a_timeline(model_dir, video, tmp_path, capsys):
    """--track --reid with AVA boxes: one person drifting right, tracked at the boxes'
    keyframes (decoded for their colours)."""
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "".join(
            f"clip01,{900 + t},{0.1 + 0.02 * t},0.1,{0.5 + 0.02 * t},0.9,,0.95\n" for t in range(4)
        )
    )
    timeline_csv, json_path, annotated = tmp_path / "t.csv", tmp_path / "d.json", tmp_path / "a.mp4"
    code = main(
        ["detect", str(video), "--model", str(model_dir), "--boxes", str(boxes),
         "--time-offset", "900", "--no-progress", "--track", "--reid", "--timeline", str(timeline_csv),
         "--timeline-threshold", "0.0", "--json", str(json_path), "--out", str(annotated)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 track(s), 3 action segment(s) on the timeline" in printed
    rows = list(csv.DictReader(timeline_csv.open()))
    # threshold 0: every action is "on" at every keyframe -> one segment per action, 4 keyframes
    assert [(r["track_id"], r["action"], r["start_s"], r["end_s"]) for r in rows] == [
        ("1", action, "0.000", "3.500") for action in sorted(ACTIONS)
    ]
    result = Detections.from_json(json_path)
    assert result.track_ids.tolist() == [1, 1, 1, 1]
    assert json.loads(json_path.read_text())["timeline"]["segments"][0]["track_id"] == 1
    assert probe(annotated).num_frames == 40
