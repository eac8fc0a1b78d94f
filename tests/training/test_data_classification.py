"""Kinetics / Moments in Time / SSv2 datasets on hand-written real-format files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from cofin_sdk.io.video import write_video
from cofin_sdk.preprocessing import Preprocessing
from training.data import KineticsDataset, MomentsInTimeDataset, SSv2Dataset, build_dataset
from training.data.classification import clip_center_index

PREP = Preprocessing(image_size=32, num_frames=4, frame_stride=2)
NUM_VIDEO_FRAMES = 30


def write_clip(path: Path) -> None:
    """A 30-frame clip whose grey level encodes the frame index (8 × index)."""
    frames = np.zeros((NUM_VIDEO_FRAMES, 24, 32, 3), np.uint8)
    for n in range(NUM_VIDEO_FRAMES):
        frames[n] = 8 * n
    write_video(path, frames, fps=10, crf=0)


def frame_indices(video: torch.Tensor) -> list[int]:
    grey = (video[0, :, 4, 4] * 0.5 + 0.5) * 255  # (T,) un-normalised red channel
    return (grey / 8).round().int().tolist()


@pytest.fixture(scope="module")
def kinetics_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinetics")
    header = "label,youtube_id,time_start,time_end,split\n"
    (root / "train.csv").write_text(
        header + "air drumming,a_1,0,10,train\nabseiling,b-2,5,15,train\n"
    )
    (root / "validate.csv").write_text(header + "zumba,c3,1,11,validate\n")
    write_clip(root / "videos" / "a_1_000000_000010.mp4")
    write_clip(root / "train" / "abseiling" / "b-2_000005_000015.mp4")  # <split>/<label>/ layout
    write_clip(root / "videos" / "c3.mp4")  # bare youtube id
    return root


def test_kinetics_layouts_and_class_list(kinetics_root: Path) -> None:
    train = KineticsDataset(kinetics_root, "train", PREP)
    val = build_dataset("kinetics400", kinetics_root, "val", PREP)
    assert train.class_names == val.class_names == ["abseiling", "air drumming", "zumba"]
    assert train.labels == [1, 0] and val.labels == [2]
    assert train.train and not val.train
    sample = val[0]
    assert sample["video"].shape == (3, 4, 32, 32) and sample["label"].dtype == torch.long
    assert sample["label"].shape == ()


def test_eval_clip_is_centred(kinetics_root: Path) -> None:
    sample = KineticsDataset(kinetics_root, "val", PREP)[0]
    assert frame_indices(sample["video"]) == [11, 13, 15, 17]  # centre frame 15 of 30


def test_train_clip_position_is_random_inside_video(kinetics_root: Path) -> None:
    ds = KineticsDataset(kinetics_root, "train", PREP, augmentation=None)
    positions = set()
    for seed in range(8):
        torch.manual_seed(seed)
        indices = frame_indices(ds[0]["video"])
        assert (
            indices == list(range(indices[0], indices[0] + 8, 2))
            and indices[0] >= 0
            and indices[-1] <= 29
        )
        positions.add(indices[0])
    assert len(positions) > 2


def test_clip_center_index_short_video_uses_middle() -> None:
    assert clip_center_index(5, 32, 2, train=True) == 2
    torch.manual_seed(0)
    assert 32 <= clip_center_index(200, 32, 2, train=True) <= 200 - 1 - 30


def test_missing_videos(
    kinetics_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv = tmp_path / "train.csv"
    rows = "".join(f"abseiling,gone{i},0,10,train\n" for i in range(3))
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n" + rows + "air drumming,a_1,0,10,train\n"
    )
    with pytest.raises(FileNotFoundError, match=r"3 video\(s\) not found .*gone0_000000_000010"):
        KineticsDataset(kinetics_root, "train", PREP, csv_path=csv)
    with caplog.at_level(logging.WARNING):
        ds = KineticsDataset(kinetics_root, "train", PREP, csv_path=csv, skip_missing=True)
    assert len(ds) == 1 and "3 video(s) not found" in caplog.text
    only_missing = tmp_path / "missing.csv"
    only_missing.write_text("label,youtube_id,time_start,time_end,split\n" + rows)
    with pytest.raises(ValueError, match=r"no samples left from .*missing.csv"):
        KineticsDataset(kinetics_root, "train", PREP, csv_path=only_missing, skip_missing=True)


def test_unknown_label_and_split(kinetics_root: Path) -> None:
    with pytest.raises(ValueError, match=r"labels \['zumba'\] are not in the class list"):
        KineticsDataset(kinetics_root, "val", PREP, class_names=["abseiling"])
    with pytest.raises(ValueError, match="unknown Kinetics split 'dev'"):
        KineticsDataset(kinetics_root, "dev", PREP)


def test_moments_in_time(tmp_path: Path) -> None:
    (tmp_path / "moments_categories.txt").write_text("bouncing,0\nspeeding,1\n")
    (tmp_path / "trainingSet.csv").write_text(
        "speeding/x1.mp4,speeding,3,3\nbouncing/x2.mp4,bouncing,2,3\n"
    )
    write_clip(tmp_path / "videos" / "speeding" / "x1.mp4")
    write_clip(tmp_path / "training" / "bouncing" / "x2.mp4")  # official archive layout
    ds = MomentsInTimeDataset(tmp_path, "train", PREP)
    assert ds.class_names == ["bouncing", "speeding"] and ds.labels == [1, 0]
    assert ds[1]["video"].shape == (3, 4, 32, 32)
    (tmp_path / "validationSet.csv").write_text("dancing/x3.mp4,dancing,3,3\n")
    with pytest.raises(ValueError, match=r"labels \['dancing'\] are not in moments_categories.txt"):
        MomentsInTimeDataset(tmp_path, "val", PREP)


def test_ssv2(tmp_path: Path) -> None:
    labels = {"Holding something": "0", "Pushing something from left to right": "1"}
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(labels))
    entries = [
        {
            "id": "7",
            "label": "pushing cup",
            "template": "Pushing [something] from left to right",
            "placeholders": ["cup"],
        }
    ]
    (tmp_path / "something-something-v2-validation.json").write_text(json.dumps(entries))
    write_clip(tmp_path / "videos" / "7.webm.mp4")  # wrong name: not found
    with pytest.raises(FileNotFoundError, match=r"1 video\(s\) not found .*: 7"):
        SSv2Dataset(tmp_path, "val", PREP)
    write_clip(tmp_path / "videos" / "7.mp4")
    ds = SSv2Dataset(tmp_path, "val", PREP)
    assert ds.class_names == ["Holding something", "Pushing something from left to right"]
    assert ds[0]["label"].item() == 1
    assert (
        SSv2Dataset(tmp_path, "val", PREP, train=True).augmentation.config.horizontal_flip is False
    )


def test_classification_determinism(kinetics_root: Path) -> None:
    ds = KineticsDataset(kinetics_root, "train", PREP)
    torch.manual_seed(5)
    first = ds[0]["video"]
    torch.manual_seed(5)
    assert torch.equal(first, ds[0]["video"])
