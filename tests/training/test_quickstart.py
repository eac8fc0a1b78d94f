"""The one-command quickstart and the train/eval CLIs, end to end on generated data."""

from __future__ import annotations

import json

import pytest

from cofin_sdk import Detections, probe
from cofin_sdk._cli import main as cofin


@pytest.mark.slow
def test_quickstart_makes_every_artifact(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cofin(["quickstart", "--out", "qs", "--max-steps", "6", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "AVA mAP@0.5" in printed and "annotated_video" in printed
    out = tmp_path / "qs"
    config = json.loads((out / "run" / "final" / "config.json").read_text())
    ava = config["metadata"]["metrics"]["ava"]
    assert 0.0 <= ava["mAP"] <= 1.0 and {"mAP_head", "mAP_mid", "mAP_tail"} <= set(ava)
    assert 0.0 <= config["metadata"]["metrics"]["kinetics"]["top1"] <= 1.0
    eval_dir = next((out / "run" / "eval").glob("step_*"))
    assert (eval_dir / "ava_per_class_ap.png").stat().st_size > 1000
    assert (eval_dir / "ava_detections.csv").read_text().count("\n") > 10
    demo = next((out / "demo").glob("*_annotated.mp4"))
    assert probe(demo).num_frames > 50
    detections = Detections.from_json(next((out / "demo").glob("*[!_]*.json")).read_text())
    assert len(detections) > 0 and detections.detector == "ava_csv"
    # The saved run can be evaluated again from the CLI with the config stored next to it.
    assert cofin(["eval", str(out / "run" / "final"), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["ava"]["mAP"] == pytest.approx(ava["mAP"])


def test_train_cli_lists_presets_and_rejects_bad_overrides(capsys):
    assert cofin(["train", "--list", "x"]) == 0
    assert "synthetic_tiny" in capsys.readouterr().out
    assert cofin(["train", "synthetic_tiny", "--set", "optim.nope=1"]) == 1
    assert "unknown config key 'optim.nope'" in capsys.readouterr().err
