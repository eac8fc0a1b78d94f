"""Synthetic generator → datasets → clips round trip (the ``synth_root`` session fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cofin_sdk.preprocessing import Preprocessing
from training.data import (
    AugmentationConfig,
    build_dataset,
    collate_classification,
    collate_detection,
    is_detection,
)
from training.data.ava_annotations import read_ground_truth

PREP = Preprocessing(image_size=64, num_frames=4, frame_stride=2)
COLOUR_DISTANCE = 60  # an H.264-compressed, resized actor pixel stays this close to its colour


def unnormalise(video: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(PREP.mean).view(3, 1, 1, 1), torch.tensor(PREP.std).view(3, 1, 1, 1)
    return ((video * std + mean) * 255).permute(1, 2, 3, 0).numpy()  # (T, S, S, 3)


def person_colours(synth_root: Path, sample: dict) -> list[np.ndarray]:
    """Actor colour of each GT box of a sample (matched through the GT CSV's person ids)."""
    meta = json.loads((synth_root / "synth_meta.json").read_text())
    colours = meta["ava"]["actor_colors"][sample["video_id"]]
    gt = read_ground_truth(synth_root / "ava" / "annotations" / "ava_train_v2.2.csv")
    persons = gt[(sample["video_id"], sample["timestamp"])]
    out = []
    for box in sample["boxes_norm"].numpy():
        person = min(persons, key=lambda p: np.abs(np.array(p.box) - box).sum())
        out.append(np.array(colours[str(person.person_id)], dtype=np.float32))
    return out


def assert_actor_inside(frame: np.ndarray, box: np.ndarray, colour: np.ndarray) -> None:
    """Most pixels of the actor's colour lie inside its box, and the box is not empty of them."""
    close = np.linalg.norm(frame - colour, axis=-1) < COLOUR_DISTANCE  # (S, S)
    x1, y1, x2, y2 = box
    inside = np.zeros_like(close)
    inside[int(np.floor(y1)) : int(np.ceil(y2)), int(np.floor(x1)) : int(np.ceil(x2))] = True
    area = max(1.0, (x2 - x1) * (y2 - y1))
    assert (close & inside).sum() >= 0.08 * area, f"box {box} holds too few actor pixels"
    assert (close & inside).sum() >= 0.8 * close.sum(), (
        f"actor {colour} is mostly outside box {box}"
    )


@pytest.mark.parametrize("train", [False, True])
def test_ava_boxes_land_on_drawn_actors(synth_root: Path, train: bool) -> None:
    augmentation = AugmentationConfig(box_jitter=0.0)  # flip + scale jitter, exact boxes
    ds = build_dataset(
        "ava", synth_root / "ava", "train", PREP, train=train, boxes="gt", augmentation=augmentation
    )
    meta = json.loads((synth_root / "synth_meta.json").read_text())
    assert ds.num_classes == len(meta["ava"]["classes"]) and ds.class_ids[0] == 1
    torch.manual_seed(0)
    for index in range(0, len(ds), max(1, len(ds) // 6)):
        sample = ds[index]
        centre = unnormalise(sample["video"])[PREP.num_frames // 2]
        colours = person_colours(synth_root, sample)
        for box, colour in zip(sample["boxes"].numpy(), colours, strict=True):
            assert_actor_inside(centre, box, colour)


def test_ava_val_detections(synth_root: Path) -> None:
    ds = build_dataset("ava", synth_root / "ava", "val", PREP)
    assert not ds.train and len(ds) > 0
    assert all((k.scores >= 0.8).all() for k in ds.keyframes)
    batch = collate_detection([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 4, 64, 64)
    assert batch["boxes"].shape[1] == 5 and len(batch["video_id"]) == len(batch["boxes"])


def test_ava_training_default_uses_both_box_sources(synth_root: Path) -> None:
    ds = build_dataset("ava", synth_root / "ava", "train", PREP)
    gt_only = build_dataset("ava", synth_root / "ava", "train", PREP, boxes="gt")
    assert ds.train
    assert sum(len(k.boxes) for k in ds.keyframes) > sum(len(k.boxes) for k in gt_only.keyframes)


@pytest.mark.parametrize(
    ("name", "meta_key"), [("kinetics", "classes"), ("mit", "classes"), ("ssv2", "templates")]
)
@pytest.mark.parametrize("split", ["train", "val"])
def test_classification_datasets(synth_root: Path, name: str, meta_key: str, split: str) -> None:
    meta = json.loads((synth_root / "synth_meta.json").read_text())
    ds = build_dataset(name, synth_root / name, split, PREP)
    assert not is_detection(name)
    assert ds.num_classes == len(meta[name][meta_key]) == len(ds.class_names)
    torch.manual_seed(0)
    batch = collate_classification([ds[0], ds[len(ds) - 1]])
    assert batch["video"].shape == (2, 3, 4, 64, 64) and batch["video"].dtype == torch.float32
    assert (
        batch["label"].dtype == torch.long
        and ((batch["label"] >= 0) & (batch["label"] < ds.num_classes)).all()
    )


def test_ssv2_flip_off_by_default(synth_root: Path) -> None:
    ds = build_dataset("ssv2", synth_root / "ssv2", "train", PREP)
    assert ds.augmentation is not None and not ds.augmentation.config.horizontal_flip
    assert build_dataset(
        "kinetics", synth_root / "kinetics", "train", PREP
    ).augmentation.config.horizontal_flip


def test_unknown_dataset_name(synth_root: Path) -> None:
    with pytest.raises(
        ValueError, match="unknown dataset 'imagenet'; known datasets: ava, ava_kinetics, kinetics"
    ):
        build_dataset("imagenet", synth_root, "train", PREP)
