"""Many videos in one call: Detector.detect_many and `cofin detect DIR_OR_GLOB --out-dir`,
with a corrupt file in the folder and --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fixtures import tiny_model

from cofin_sdk.cli.main import main
from cofin_sdk.detector import Detector
from cofin_sdk.io.video import write_video
from cofin_sdk.results import Detections
from cofin_sdk.results.timeline import ActionTimeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(
        num_frames=4, image_size=32, heads={"ava": {"task": "detection", "num_classes": 3}}
    )
    return Path(model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny")))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Two 3-s videos, one corrupt "video", one text file that is not a video at all."""
    root = tmp_path / "clips"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_video(root / f"{name}.mp4", rng.integers(0, 255, (30, 48, 64, 3), np.uint8), fps=10)
    (root / "broken.mp4").write_bytes((root / "a.mp4").read_bytes()[:300])  # truncated
    (root / "notes.txt").write_text("not a video, not listed")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "".join(
            f"{video},{t},{0.1 + 0.05 * t},0.1,{0.5 + 0.05 * t},0.9,,0.95\n"
            for video in ("a", "b", "broken")
            for t in range(3)
        )
    )
    return root


def test_folder_run_skips_a_corrupt_file_and_resumes(model_dir, folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["detect", str(folder), "--model", str(model_dir), "--out-dir", str(out),
            "--boxes", str(tmp_path / "boxes.csv"), "--track", "--timeline-threshold", "0", "--no-progress"]  # fmt: skip
    assert main(argv) == 1  # a video failed: non-zero exit, after the others ran
    captured = capsys.readouterr()
    assert "3 video(s): 2 done, 0 skipped" in captured.out and "1 failed" in captured.out
    assert f"failed: {folder / 'broken.mp4'}:" in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "a.json", "a.timeline.csv", "b.json", "b.timeline.csv"
    ]  # fmt: skip
    result = Detections.from_json(out / "a.json")
    assert result.video_id == "a" and result.track_ids.tolist() == [1, 1, 1]
    timeline = ActionTimeline.from_json(out / "a.json")  # threshold 0: each action spans 0-2.5 s
    assert len(timeline) == 3 and {(s.track_id, s.start_s, s.end_s) for s in timeline} == {
        (1, 0.0, 2.5)
    }
    assert (out / "a.timeline.csv").read_text() == timeline.to_csv()
    stamp = (out / "a.json").stat().st_mtime_ns
    (out / "b.json").unlink()  # as if the first run had stopped before b
    assert main([*argv, "--resume"]) == 1
    captured = capsys.readouterr()
    assert "3 video(s): 1 done, 1 skipped" in captured.out
    assert (out / "a.json").stat().st_mtime_ns == stamp  # not redone
    assert (out / "b.json").exists()


def test_glob_and_api(model_dir, folder, tmp_path):
    detector = Detector.from_pretrained(model_dir, progress=False)
    report = detector.detect_many(str(folder / "[ab].mp4"), boxes=[[5, 5, 40, 40]])
    assert sorted(p.name for p in report.results) == ["a.mp4", "b.mp4"] and report.ok
    assert all(len(d) == 3 for d in report.results.values())  # keyframes 0, 1, 2 s
    report = detector.detect_many([folder / "a.mp4", folder / "broken.mp4"], boxes=[[5, 5, 40, 40]])
    assert list(report.failed) == [folder / "broken.mp4"] and not report.ok
    assert "\n" not in report.failed[folder / "broken.mp4"]
    with pytest.raises(ValueError, match="resume=True skips videos whose results are in out_dir"):
        detector.detect_many(folder, resume=True)
    with pytest.raises(ValueError, match="timeline= needs track=True"):
        detector.detect_many(folder, timeline={"threshold": 0.5})
    with pytest.raises(ValueError, match="min_duration_s=-1"):
        detector.detect_many(folder, track=True, timeline={"min_duration_s": -1})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="the folder holds no videos"):
        detector.detect_many(empty)
