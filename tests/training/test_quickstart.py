"""The one-command quickstart and the train/eval CLIs, end to end on generated data.

The quickstart runs once per module; each test checks one promise against files the run
wrote: the recorded metrics are those of the written detections, the detections cover
the validation set, and the saved model reproduces the evaluator's scores through the SDK.

Not asserted: that the model beats a trivial baseline. After the 6 steps used here its
AVA mAP is at chance level (seed 0: 0.333 vs 0.324 for random scores; seed 2: 0.225 vs
0.241), so such a test would only measure luck.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cofin_sdk import AvaCsvBoxes, Detections, Detector, probe
from cofin_sdk.cli.main import main as cofin
from training.evaluation.ava import evaluate_ava_files


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``(output folder, printed summary)`` of one 6-step quickstart run."""
    out = tmp_path_factory.mktemp("quickstart") / "qs"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cofin(["quickstart", "--out", str(out), "--max-steps", "6", "--no-progress"])
    assert code == 0
    return out, printed.getvalue()


def annotations(out: Path) -> Path:
    return out / "data" / "ava" / "annotations"


def recorded_metrics(out: Path) -> dict:
    return json.loads((out / "run" / "final" / "config.json").read_text())["metadata"]["metrics"]


def recorded_heads(out: Path) -> dict:
    return json.loads((out / "run" / "final" / "config.json").read_text())["model"]["heads"]


def eval_dir(out: Path) -> Path:
    (folder,) = (out / "run" / "eval").glob("step_*")
    return folder


def read_csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.reader(handle) if row]


def boxes_by_keyframe(rows: list[list[str]]) -> dict[tuple[str, float], set[tuple[float, ...]]]:
    """``{(video, timestamp): {box}}`` of AVA CSV rows, boxes rounded to 3 decimals."""
    boxes: dict[tuple[str, float], set[tuple[float, ...]]] = {}
    for row in rows:
        box = tuple(round(float(v), 3) for v in row[2:6])
        boxes.setdefault((row[0], float(row[1])), set()).add(box)
    return boxes


@pytest.mark.slow
def test_recorded_and_printed_metrics_are_those_of_the_written_detections(quickstart) -> None:
    out, printed = quickstart
    ann = annotations(out)
    rule = json.loads((out / "data" / "synth_meta.json").read_text())["ava"]["head_mid_tail"]
    result = evaluate_ava_files(
        ann / "ava_val_v2.2.csv",
        eval_dir(out) / "ava_detections.csv",
        ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        exclusions=ann / "ava_val_excluded_timestamps_v2.2.csv",
        train_labels=ann / "ava_train_v2.2.csv",
        head_threshold=math.floor(rule["head_above"]),
        tail_threshold=math.ceil(rule["tail_below"]),
    )
    ava = recorded_metrics(out)["ava"]
    assert ava["mAP"] == pytest.approx(result.mAP, abs=1e-9)
    for group in ("head", "mid", "tail"):
        assert ava[f"mAP_{group}"] == pytest.approx(result.group_mAP[group], abs=1e-9)
    expected_ap = {n: None if np.isnan(a) else a for n, a in zip(result.class_names, result.ap)}
    assert ava["per_class_ap"] == pytest.approx(expected_ap, abs=1e-9)
    assert (
        f"AVA mAP@0.5    {result.mAP:.3f}   head {result.group_mAP['head']:.3f}  "
        f"mid {result.group_mAP['mid']:.3f}  tail {result.group_mAP['tail']:.3f}"
    ) in printed
    for head in ("kinetics", "ssv2"):
        values = recorded_metrics(out)[head]
        assert f"{head:<14} top-1 {values['top1']:.3f}  top-5 {values['top5']:.3f}" in printed


@pytest.mark.slow
def test_detections_csv_scores_every_class_of_every_val_person_box(quickstart) -> None:
    out, _ = quickstart
    ann = annotations(out)
    rows = read_csv_rows(eval_dir(out) / "ava_detections.csv")
    # Every ground-truth keyframe, with exactly the person boxes the detector CSV gives
    # at the dataset's 0.8 score threshold.
    people = [r for r in read_csv_rows(ann / "ava_val_predicted_boxes.csv") if float(r[7]) >= 0.8]
    ground_truth_keyframes = {(r[0], float(r[1])) for r in read_csv_rows(ann / "ava_val_v2.2.csv")}
    assert set(boxes_by_keyframe(rows)) == ground_truth_keyframes
    assert boxes_by_keyframe(rows) == boxes_by_keyframe(people)
    # One row per (box, class) for all classes of the head, scores are probabilities.
    class_ids = recorded_heads(out)["ava"]["class_ids"]
    per_box: dict[tuple[str, ...], list[int]] = {}
    for row in rows:
        per_box.setdefault(tuple(row[:6]), []).append(int(row[6]))
    assert len(per_box) == len(people)
    assert all(sorted(ids) == sorted(class_ids) for ids in per_box.values())
    scores = np.array([float(row[7]) for row in rows])
    assert ((scores > 0) & (scores < 1)).all() and len(np.unique(scores)) > len(rows) // 2


@pytest.mark.slow
def test_saved_model_reproduces_demo_and_evaluator_scores(quickstart) -> None:
    out, _ = quickstart
    (json_path,) = (out / "demo").glob("*[!_]*.json")
    saved = Detections.from_json(json_path.read_text())
    video = out / "data" / "ava" / "videos" / f"{saved.video_id}.mp4"
    person_boxes = AvaCsvBoxes(
        annotations(out) / "ava_val_predicted_boxes.csv", saved.video_id, time_offset=900
    )
    detector = Detector.from_pretrained(
        out / "run" / "final", person_detector=person_boxes, progress=False
    )
    assert detector.detect(video, threshold=0.3) == saved
    assert (out / "demo" / f"{saved.video_id}_ava.csv").read_text() == saved.to_ava_csv(
        timestamp_offset=900
    )
    # The SDK (video decoding, preprocessing, saved weights) gives the training
    # evaluator's scores for the same boxes.
    evaluator = {}
    for row in read_csv_rows(eval_dir(out) / "ava_detections.csv"):
        if row[0] == saved.video_id:
            key = (float(row[1]) - 900, *(round(float(v), 3) for v in row[2:6]))
            evaluator.setdefault(key, {})[int(row[6])] = float(row[7])
    assert len(saved) == len(evaluator) > 0
    width, height = saved.frame_size
    for box, time, scores in zip(saved.boxes, saved.timestamps, saved.action_scores):
        key = (time, *(round(float(v), 3) for v in box / [width, height, width, height]))
        expected = [evaluator[key][class_id] for class_id in saved.class_ids]
        np.testing.assert_allclose(scores, expected, atol=2e-6)
    # The annotated video has every frame of the source, upscaled to 360 px high.
    annotated, source = probe(out / "demo" / f"{saved.video_id}_annotated.mp4"), probe(video)
    assert annotated.num_frames == source.num_frames
    assert (
        (annotated.width, annotated.height)
        == (source.width * 5, source.height * 5)
        == (
            480,
            360,
        )
    )


@pytest.mark.slow
def test_saved_model_reproduces_clip_top1(quickstart) -> None:
    """Top-1 from Detector.classify on the validation videos equals the recorded top-1."""
    out, _ = quickstart
    data = out / "data"
    detector = Detector.from_pretrained(out / "run" / "final", progress=False)
    kinetics = list(csv.DictReader((data / "kinetics" / "validate.csv").open()))
    kinetics_videos = [
        data / "kinetics" / "videos" / f"{r['youtube_id']}_{int(r['time_start']):06d}_"
        f"{int(r['time_end']):06d}.mp4"
        for r in kinetics
    ]
    ssv2 = json.loads((data / "ssv2" / "something-something-v2-validation.json").read_text())
    cases = {
        "kinetics": (kinetics_videos, [r["label"] for r in kinetics]),
        "ssv2": (
            [data / "ssv2" / "videos" / f"{r['id']}.mp4" for r in ssv2],
            [r["template"].replace("[", "").replace("]", "") for r in ssv2],
        ),
    }
    for head, (videos, labels) in cases.items():
        results = [detector.classify(path, head=head) for path in videos]
        top1 = np.mean([result.label == label for result, label in zip(results, labels)])
        top5 = np.mean([label in dict(result.top_k(5)) for result, label in zip(results, labels)])
        assert (top1, top5) == pytest.approx(
            (recorded_metrics(out)[head]["top1"], recorded_metrics(out)[head]["top5"])
        ), head


@pytest.mark.slow
def test_plot_and_cli_eval_of_the_saved_run(quickstart, tmp_path) -> None:
    out, _ = quickstart
    with Image.open(eval_dir(out) / "ava_per_class_ap.png") as image:
        assert image.format == "PNG" and image.size == (600, 450)  # 12 classes: minimum width
    # The saved run can be evaluated again from the CLI with the config stored next to it.
    assert cofin(["eval", str(out / "run" / "final"), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    recorded = recorded_metrics(out)
    assert set(again) == set(recorded) == {"ava", "kinetics", "ssv2"}
    for head, values in recorded.items():
        flat = {k: v for k, v in values.items() if k != "per_class_ap"}
        assert {k: again[head][k] for k in again[head] if k != "per_class_ap"} == pytest.approx(
            flat, abs=1e-9
        ), head
        assert again[head].get("per_class_ap") == pytest.approx(values.get("per_class_ap"))


def test_train_cli_lists_presets_and_rejects_bad_overrides(capsys):
    assert cofin(["train", "--list", "x"]) == 0
    assert "synthetic_tiny" in capsys.readouterr().out
    assert cofin(["train", "synthetic_tiny", "--set", "optim.nope=1"]) == 1
    assert "unknown config key 'optim.nope'" in capsys.readouterr().err
