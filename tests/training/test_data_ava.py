"""AVA / AVA-Kinetics datasets on small hand-made videos in the real layout."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cofin_sdk.io.video import write_video
from cofin_sdk.preprocessing import Preprocessing
from training.data import (
    AugmentationConfig,
    AVADataset,
    AVAKineticsDataset,
    build_dataset,
    collate_detection,
)

FPS, WIDTH, HEIGHT, SECONDS = 10, 80, 60, 6
BACKGROUND = (90, 90, 90)
# Two static actors: normalised box and colour; action 1 = red, action 2 = green.
ACTORS = {1: ((0.1, 0.2, 0.4, 0.9), (220, 40, 40)), 2: ((0.55, 0.1, 0.9, 0.6), (40, 200, 40))}
PREP = Preprocessing(image_size=48, num_frames=4, frame_stride=2)

LABEL_MAP_2018 = "".join(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in range(1, 5))
LABEL_MAP_2019 = "".join(
    f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
    for i in (1, 3)
)


def make_frames(num_frames: int = FPS * SECONDS) -> np.ndarray:
    """Frames with both actors; the top-left 8×8 block's grey level encodes the frame index."""
    frames = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    frames[:] = BACKGROUND
    for (x1, y1, x2, y2), colour in ACTORS.values():
        frames[
            :, round(y1 * HEIGHT) : round(y2 * HEIGHT), round(x1 * WIDTH) : round(x2 * WIDTH)
        ] = colour
    for n in range(num_frames):
        frames[n, :8, :8] = (4 * n) % 256
    return frames


def gt_rows(video_id: str, timestamp: int) -> str:
    rows = []
    for action, ((x1, y1, x2, y2), _) in ACTORS.items():
        rows.append(f"{video_id},{timestamp:04d},{x1},{y1},{x2},{y2},{action},{action}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def ava_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ava")
    write_video(root / "videos" / "movieA.mp4", make_frames(), fps=FPS, crf=0)
    ann = root / "annotations"
    ann.mkdir()
    (ann / "ava_train_v2.2.csv").write_text(
        gt_rows("movieA", 902) + gt_rows("movieA", 903) + gt_rows("movieA", 905)
    )
    (ann / "ava_val_v2.2.csv").write_text(gt_rows("movieA", 902))
    (ann / "ava_train_excluded_timestamps_v2.2.csv").write_text("movieA,0903\n")
    dets = "movieA,0902,0.11,0.2,0.4,0.88,,0.95\nmovieA,0902,0.45,0.7,0.55,0.95,,0.9\nmovieA,0902,0.5,0.5,0.6,0.6,,0.3\n"
    (ann / "ava_val_predicted_boxes.csv").write_text(dets + "movieA,0904,0.55,0.1,0.9,0.6,,0.99\n")
    (ann / "ava_action_list_v2.2.pbtxt").write_text(LABEL_MAP_2018)
    (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(LABEL_MAP_2019)
    return root


def unnormalise(video: torch.Tensor, prep: Preprocessing = PREP) -> np.ndarray:
    """``Tensor[3, T, S, S]`` → uint8-range float ``(T, S, S, 3)``."""
    mean, std = torch.tensor(prep.mean).view(3, 1, 1, 1), torch.tensor(prep.std).view(3, 1, 1, 1)
    return ((video * std + mean) * 255).permute(1, 2, 3, 0).numpy()


def box_colour(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Mean colour of the inner half of an input-pixel box."""
    x1, y1, x2, y2 = box
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 4, (y2 - y1) / 4
    return (
        frame[int(cy - h) : int(np.ceil(cy + h)), int(cx - w) : int(np.ceil(cx + w))]
        .reshape(-1, 3)
        .mean(0)
    )


def assert_boxes_on_actors(sample: dict, tolerance: float = 30) -> None:
    frames = unnormalise(sample["video"])
    centre = frames[PREP.num_frames // 2]
    assert len(sample["boxes"]) > 0
    for box, target in zip(sample["boxes"].numpy(), sample["targets"].numpy(), strict=True):
        action = int(np.flatnonzero(target)[0]) + 1
        np.testing.assert_allclose(box_colour(centre, box), ACTORS[action][1], atol=tolerance)


def test_eval_sample_boxes_land_on_actors(ava_root: Path) -> None:
    ds = AVADataset(ava_root, "train", PREP, train=False, boxes="gt")
    assert ds.num_classes == 4 and ds.class_ids == [1, 2, 3, 4] and ds.class_names[0] == "action 1"
    assert [(k.video_id, k.timestamp) for k in ds.keyframes] == [
        ("movieA", 902),
        ("movieA", 905),
    ]  # 903 excluded
    sample = ds[0]
    assert sample["video"].shape == (3, 4, 48, 48) and sample["video"].dtype == torch.float32
    assert sample["video_id"] == "movieA" and sample["timestamp"] == 902
    assert sample["targets"].shape == (2, 4) and sample["box_scores"].tolist() == [1.0, 1.0]
    scale = 48 / WIDTH  # longer side 80 → 48
    expected = np.array([ACTORS[1][0], ACTORS[2][0]]) * [WIDTH, HEIGHT, WIDTH, HEIGHT] * scale
    np.testing.assert_allclose(sample["boxes"].numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(
        sample["boxes_norm"].numpy(), [ACTORS[1][0], ACTORS[2][0]], atol=1e-6
    )
    assert_boxes_on_actors(sample)


def test_keyframe_time_and_edge_repeat(ava_root: Path) -> None:
    """Keyframe 902 is cut-video second 2 (frame 20); near the end the last frame repeats."""
    prep = Preprocessing(image_size=80, num_frames=8, frame_stride=4)
    ds = AVADataset(ava_root, "train", prep, train=False, boxes="gt")
    stripe = [(unnormalise(ds[i]["video"], prep)[:, 1, 1, 0] / 4).round() for i in range(2)]
    assert stripe[0].tolist() == [4, 8, 12, 16, 20, 24, 28, 32]
    # Keyframe 905 → frame 50: 34, 38, ..., 62 clamped to the last frame (59).
    assert stripe[1].tolist() == [34, 38, 42, 46, 50, 54, 58, 59]


def test_eval_detections_include_unlabelled_keyframes(ava_root: Path) -> None:
    ds = AVADataset(ava_root, "val", PREP)  # train=False → detected boxes ≥ 0.8
    assert not ds.train
    assert [(k.timestamp, len(k.boxes)) for k in ds.keyframes] == [(902, 2), (904, 1)]
    sample = ds[0]
    assert sample["box_scores"].tolist() == pytest.approx([0.95, 0.9])
    assert sample["targets"].tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]  # matched / background
    assert ds[1]["targets"].sum() == 0


@pytest.mark.parametrize(
    ("boxes", "threshold", "count"),
    [("detected", 0.8, 2), ("detected", 0.2, 3), ("both", 0.8, 4), ("gt", 0.8, 2)],
)
def test_box_source_options(ava_root: Path, boxes: str, threshold: float, count: int) -> None:
    ds = AVADataset(
        ava_root, "val", PREP, train=False, boxes=boxes, detection_score_threshold=threshold
    )
    assert len(ds.keyframes[0].boxes) == count


def test_training_default_is_gt_without_detection_file(
    ava_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        ds = AVADataset(ava_root, "train", PREP)
    assert ds.train and "training on ground-truth boxes only" in caplog.text


def test_label_map_2019_form_selects_classes(ava_root: Path) -> None:
    ds = AVADataset(
        ava_root,
        "train",
        PREP,
        train=False,
        boxes="gt",
        label_map="ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    )
    assert ds.class_ids == [1, 3] and ds.num_classes == 2
    assert ds[0]["targets"].tolist() == [[1, 0], [0, 0]]  # action 2 is not in the evaluated subset


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_keeps_boxes_on_actors(ava_root: Path, seed: int) -> None:
    augmentation = AugmentationConfig(scale_range=(0.75, 1.5), box_jitter=0.0)
    ds = AVADataset(ava_root, "train", PREP, train=True, boxes="gt", augmentation=augmentation)
    torch.manual_seed(seed)
    sample = ds[0]
    assert sample["video"].shape == (3, 4, 48, 48)
    assert len(sample["boxes"]) == len(sample["targets"]) == len(sample["boxes_norm"])
    assert_boxes_on_actors(sample, tolerance=45)


def test_flip_mirrors_content_and_boxes(ava_root: Path) -> None:
    """With forced flip, the red actor moves to the right of the content, padding stays bottom."""
    ds = AVADataset(
        ava_root,
        "train",
        PREP,
        train=True,
        boxes="gt",
        augmentation=AugmentationConfig(scale_range=(1, 1), box_jitter=0),
    )
    flipped = None
    for seed in range(20):
        torch.manual_seed(seed)
        sample = ds[0]
        if sample["boxes"][0, 0] > 24:  # red actor (x 0.1–0.4) now on the right half
            flipped = sample
            break
    assert flipped is not None
    np.testing.assert_allclose(
        flipped["boxes"][0].numpy(), [48 - 0.4 * 48, 0.2 * 36, 48 - 0.1 * 48, 0.9 * 36], atol=1e-4
    )
    assert_boxes_on_actors(flipped)
    assert unnormalise(flipped["video"])[0, 40:, :, :].max() < 1  # bottom padding still black


def test_box_jitter_bounded(ava_root: Path) -> None:
    ds = AVADataset(
        ava_root,
        "train",
        PREP,
        train=True,
        boxes="gt",
        augmentation=AugmentationConfig(scale_range=(1, 1), horizontal_flip=False, box_jitter=0.15),
    )
    reference = AVADataset(ava_root, "train", PREP, train=False, boxes="gt")[0]["boxes"]
    torch.manual_seed(0)
    jittered = ds[0]["boxes"]
    size = (reference[:, 2:] - reference[:, :2]).repeat(1, 2)
    assert not torch.allclose(jittered, reference)
    assert ((jittered - reference).abs() <= 0.15 * size + 1e-4).all()


def test_determinism_under_manual_seed(ava_root: Path) -> None:
    ds = AVADataset(ava_root, "train", PREP, train=True, boxes="gt")
    torch.manual_seed(123)
    first = ds[0]
    torch.manual_seed(123)
    again = ds[0]
    assert torch.equal(first["video"], again["video"]) and torch.equal(
        first["boxes"], again["boxes"]
    )


def test_frame_folders(tmp_path: Path, ava_root: Path) -> None:
    """PySlowFast layout: frames/<id>/<id>_%06d.jpg at 30 fps, numbered from 1."""
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    for name in ("ava_train_v2.2.csv", "ava_action_list_v2.2.pbtxt"):
        (root / "annotations" / name).write_text((ava_root / "annotations" / name).read_text())
    folder = root / "frames" / "movieA"
    folder.mkdir(parents=True)
    for n, frame in enumerate(make_frames(num_frames=30 * SECONDS)):
        cv2.imwrite(
            str(folder / f"movieA_{n + 1:06d}.jpg"),
            cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 100],
        )
    prep = Preprocessing(image_size=80, num_frames=4, frame_stride=2)
    sample = AVADataset(root, "train", prep, train=False, boxes="gt")[0]
    frames = unnormalise(sample["video"], prep)
    np.testing.assert_allclose(
        frames[:, 2, 2, 0] / 4, [56, 58, 60, 62], atol=1
    )  # (902-900)*30 = 60 centre
    np.testing.assert_allclose(
        box_colour(frames[2], sample["boxes"][0].numpy()), ACTORS[1][1], atol=20
    )


def test_missing_videos_raise_or_skip(
    tmp_path: Path, ava_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    (root / "videos").symlink_to(ava_root / "videos")
    text = gt_rows("movieA", 902) + "".join(gt_rows(f"gone{i}", 902) for i in range(7))
    (root / "annotations" / "ava_train_v2.2.csv").write_text(text)
    (root / "annotations" / "ava_action_list_v2.2.pbtxt").write_text(LABEL_MAP_2018)
    with pytest.raises(
        FileNotFoundError,
        match=r"7 video\(s\) not found .*gone0, gone1, gone2, gone3, gone4, \.\.\..*skip_missing=True",
    ):
        AVADataset(root, "train", PREP)
    with caplog.at_level(logging.WARNING):
        ds = AVADataset(root, "train", PREP, skip_missing=True)
    assert len(ds) == 1 and "7 video(s) not found" in caplog.text


def test_empty_dataset_names_files_and_filters(ava_root: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"no samples left from .*ava_train_v2.2.csv.*keyframe_range=\(1000, 1100\)",
    ):
        AVADataset(ava_root, "train", PREP, keyframe_range=(1000, 1100))


def test_missing_annotation_and_bad_options(ava_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="AVA ground-truth CSV not found"):
        AVADataset(tmp_path, "train", PREP)
    with pytest.raises(FileNotFoundError, match="detected person-box CSV not found"):
        AVADataset(ava_root, "train", PREP, boxes="detected")
    with pytest.raises(ValueError, match="boxes must be one of"):
        AVADataset(ava_root, "train", PREP, boxes="oracle")


def test_collate_detection_with_zero_box_sample(ava_root: Path) -> None:
    ds = AVADataset(ava_root, "val", PREP)
    empty = {
        **ds[1],
        "boxes": torch.zeros(0, 4),
        "targets": torch.zeros(0, 4),
        "box_scores": torch.zeros(0),
        "boxes_norm": torch.zeros(0, 4),
    }
    batch = collate_detection([ds[0], empty, ds[1]])
    assert batch["video"].shape == (3, 3, 4, 48, 48)
    assert batch["boxes"][:, 0].tolist() == [0, 0, 2]
    assert (
        batch["targets"].shape == (3, 4)
        and batch["box_scores"].shape == (3,)
        and batch["boxes_norm"].shape == (3, 4)
    )
    assert batch["video_id"] == ["movieA"] * 3 and batch["timestamp"] == [902, 902, 904]
    assert collate_detection([empty])["boxes"].shape == (0, 5)


def test_dataloader_workers(ava_root: Path) -> None:
    ds = build_dataset("ava", ava_root, "val", PREP)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=2, num_workers=1, collate_fn=collate_detection
    )
    batch = next(iter(loader))
    assert batch["boxes"].shape == (3, 5)


def test_ava_kinetics_clip_time(tmp_path: Path) -> None:
    """Keyframe second 15 of YouTube video 'a_b-c' lives at second 5 of clip a_b-c_000010_000016."""
    root = tmp_path / "avak"
    write_video(
        root / "videos" / "train" / "a_b-c_000010_000016.mp4", make_frames(), fps=FPS, crf=0
    )
    (root / "annotations").mkdir()
    (root / "annotations" / "kinetics_train_v1.0.csv").write_text(
        gt_rows("a_b-c", 12) + gt_rows("a_b-c", 15)
    )
    (root / "annotations" / "ava_action_list_v2.2.pbtxt").write_text(LABEL_MAP_2018)
    prep = Preprocessing(image_size=80, num_frames=1, frame_stride=1)
    ds = AVAKineticsDataset(root, "train", prep, train=False, boxes="gt")
    assert [k.timestamp for k in ds.keyframes] == [12, 15]
    assert [(unnormalise(ds[i]["video"], prep)[0, 1, 1, 0] / 4).round() for i in range(2)] == [
        20,
        50,
    ]
    with pytest.raises(FileNotFoundError, match="evaluation needs detected person boxes"):
        AVAKineticsDataset(root, "val", prep, gt_csv="kinetics_train_v1.0.csv")
