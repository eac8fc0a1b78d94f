"""Clip-classification datasets: Kinetics-400/700, Moments in Time, Something-Something v2.

Every sample is ``{"video": Tensor[3, T, S, S], "label": LongTensor[]}``; evaluation
samples also carry ``"frames"``, the backends' input: the same clip ``uint8 (T, S, S, 3)``,
letterboxed and channels-last (:func:`cofin_sdk.preprocessing.letterbox_frames`). The clip
is centred in the video for evaluation (single view, as in the paper) and placed
at a uniformly random position (fully inside the video when it is long enough)
for training; both go through the shared clip sampler
(:func:`cofin_sdk.io.video.read_clip`) and preprocessing.

Example:
    >>> from cofin_sdk.preprocessing import Preprocessing
    >>> ds = KineticsDataset("data/kinetics", "train", Preprocessing(image_size=224))  # doctest: +SKIP
    >>> ds[0]["video"].shape, ds.num_classes                                         # doctest: +SKIP
    (torch.Size([3, 32, 224, 224]), 400)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cofin_sdk.io.video import VideoInfo, probe, read_clip, spread_centre_indices
from cofin_sdk.preprocessing import Preprocessing, letterbox_frames
from training.data._common import (
    VIDEO_EXTENSIONS,
    handle_missing,
    index_videos,
    no_samples,
    require_file,
)
from training.data.classification_files import (
    read_kinetics_csv,
    read_mit_categories,
    read_mit_csv,
    read_ssv2_annotations,
    read_ssv2_labels,
)
from training.data.transforms import AugmentationConfig, TrainAugmentation, prepare_clip

logger = logging.getLogger(__name__)

KINETICS_SPLIT_FILES = {
    "train": "train.csv",
    "val": "validate.csv",
    "validate": "validate.csv",
    "test": "test.csv",
}
MIT_SPLIT_FILES = {
    "train": "trainingSet.csv",
    "val": "validationSet.csv",
    "validation": "validationSet.csv",
}
MIT_SPLIT_DIRS = {"train": "training", "val": "validation", "validation": "validation"}
SSV2_SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "validation": "something-something-v2-validation.json",
}


def _split_file(table: dict[str, str], split: str, dataset: str) -> str:
    if split not in table:
        raise ValueError(f"unknown {dataset} split {split!r}; expected one of {sorted(table)}")
    return table[split]


def clip_center_index(
    num_video_frames: int, num_frames: int, frame_stride: int, train: bool
) -> int:
    """Centre frame of a clip: the video's middle (eval) or uniformly random (train).

    Training positions keep the whole clip inside the video when it is long enough;
    otherwise the middle is used and the sampler repeats edge frames.
    """
    first = (num_frames // 2) * frame_stride
    last = num_video_frames - 1 - (num_frames - 1 - num_frames // 2) * frame_stride
    if not train or last <= first:
        return int(spread_centre_indices(num_video_frames)[0])
    return first + int(torch.randint(0, last - first + 1, ()))


class VideoClassificationDataset(Dataset):
    """Videos with one class each → classification samples (base of the format classes).

    Args:
        videos: Video file of each sample.
        labels: Class index of each sample.
        class_names: Names by class index.
        preprocessing: Model preprocessing.
        train: Random clip position + augmentation.
        augmentation: Augmentation settings (default :class:`AugmentationConfig`).

    Example:
        >>> from cofin_sdk.preprocessing import Preprocessing
        >>> ds = VideoClassificationDataset([Path("a.mp4")], [0], ["cls"], Preprocessing(), False)
        >>> len(ds), ds.num_classes
        (1, 1)
    """

    def __init__(
        self,
        videos: Sequence[Path],
        labels: Sequence[int],
        class_names: Sequence[str],
        preprocessing: Preprocessing,
        train: bool,
        augmentation: AugmentationConfig | None = None,
    ) -> None:
        if len(videos) != len(labels):
            raise ValueError(f"got {len(videos)} videos but {len(labels)} labels")
        self.videos, self.labels = list(videos), list(labels)
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.preprocessing, self.train = preprocessing, train
        self.augmentation = TrainAugmentation(augmentation) if train else None
        self._infos: dict[Path, VideoInfo] = {}

    def __len__(self) -> int:
        return len(self.videos)

    def read_frames(self, index: int) -> np.ndarray:
        """RGB ``uint8`` ``(T, H, W, 3)`` clip of sample ``index``, not resized."""
        path, prep = self.videos[index], self.preprocessing
        if path not in self._infos:
            self._infos[path] = probe(path)
        info = self._infos[path]
        center = clip_center_index(info.num_frames, prep.num_frames, prep.frame_stride, self.train)
        return read_clip(path, center / info.fps, prep.num_frames, prep.frame_stride, info=info)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """``{"video": Tensor[3, T, S, S], "label": LongTensor[]}`` (+ ``"frames"`` for evaluation)."""
        raw = self.read_frames(index)
        prepared = prepare_clip(raw, self.preprocessing, None, self.augmentation)
        sample = {
            "video": prepared.video,
            "label": torch.tensor(self.labels[index], dtype=torch.long),
        }
        if not self.train:  # the evaluation runner feeds a Backend the inference input
            prep = self.preprocessing
            frames, _ = letterbox_frames(raw, prep.image_size, resize=prep.resize)
            sample["frames"] = torch.from_numpy(frames)  # (T, S, S, 3) uint8
        return sample


def _keep_found(
    entries: Sequence[tuple[Path | None, int, str]], where: str, skip_missing: bool
) -> tuple[list[Path], list[int]]:
    """Split ``(path or None, label, name)`` entries into found videos/labels; report missing ones."""
    handle_missing([name for path, _, name in entries if path is None], where, skip_missing)
    found = [(path, label) for path, label, _ in entries if path is not None]
    return [p for p, _ in found], [label for _, label in found]


class KineticsDataset(VideoClassificationDataset):
    """Kinetics-400/600/700: ``{train,validate,test}.csv`` + videos.

    Videos are looked up by ``<ytid>_<start:06d>_<end:06d>`` (or ``<ytid>``) under
    ``root/videos`` and ``root/<split>`` (so ``<split>/<label>/<file>.mp4`` works too).

    Args:
        root: Dataset folder.
        split: ``"train"``, ``"val"``/``"validate"`` or ``"test"``.
        preprocessing: Model preprocessing.
        train: Augment + random clip position; default ``split == "train"``.
        csv_path: Override the split CSV.
        class_names: Class list; default the sorted labels of ``train.csv`` and
            ``validate.csv`` (so every split agrees on indices).
        augmentation: Augmentation settings (flip on).
        skip_missing: Skip missing videos (warning) instead of raising.

    Raises:
        FileNotFoundError: Missing CSV or videos (unless ``skip_missing``).
        ValueError: Malformed rows, unknown labels or no samples.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        preprocessing: Preprocessing | None = None,
        train: bool | None = None,
        *,
        csv_path: str | os.PathLike[str] | None = None,
        class_names: Sequence[str] | None = None,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
    ) -> None:
        root = Path(root)
        csv_file = require_file(
            csv_path or root / _split_file(KINETICS_SPLIT_FILES, split, "Kinetics"), "Kinetics CSV"
        )
        records = read_kinetics_csv(csv_file)
        names = list(class_names) if class_names is not None else _kinetics_classes(root, records)
        index_of = {name: i for i, name in enumerate(names)}
        unknown = sorted({r.label for r in records} - set(index_of))
        if unknown:
            raise ValueError(
                f"{csv_file}: labels {unknown[:5]} are not in the class list ({len(names)} classes)"
            )
        video_dirs = [root / "videos", root / split, root / csv_file.stem]
        videos = index_videos(video_dirs)
        entries = [
            (videos.get(r.video_stem) or videos.get(r.youtube_id), index_of[r.label], r.video_stem)
            for r in records
        ]
        paths, labels = _keep_found(entries, " or ".join(str(d) for d in video_dirs), skip_missing)
        if not paths:
            raise no_samples([csv_file], "videos found")
        super().__init__(
            paths,
            labels,
            names,
            preprocessing or Preprocessing(),
            split == "train" if train is None else train,
            augmentation,
        )


def _kinetics_classes(root: Path, records: Sequence[Any]) -> list[str]:
    """Sorted labels of the split CSV and any ``train.csv`` / ``validate.csv`` next to it."""
    labels = {r.label for r in records}
    for name in ("train.csv", "validate.csv"):
        if (root / name).is_file():
            labels |= {r.label for r in read_kinetics_csv(root / name)}
    return sorted(labels)


class MomentsInTimeDataset(VideoClassificationDataset):
    """Moments in Time: ``{trainingSet,validationSet}.csv`` + ``moments_categories.txt``.

    Videos ``<label>/<file>.mp4`` are looked up under ``root/videos`` and
    ``root/{training,validation}`` (the official archive layout).

    Args:
        root: Dataset folder.
        split: ``"train"`` or ``"val"``.
        preprocessing: Model preprocessing.
        train: Augment + random clip position; default ``split == "train"``.
        csv_path: Override the split CSV.
        categories_path: Override ``moments_categories.txt``.
        augmentation: Augmentation settings (flip on).
        skip_missing: Skip missing videos (warning) instead of raising.

    Raises:
        FileNotFoundError: Missing files or videos (unless ``skip_missing``).
        ValueError: Malformed rows, unknown labels or no samples.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        preprocessing: Preprocessing | None = None,
        train: bool | None = None,
        *,
        csv_path: str | os.PathLike[str] | None = None,
        categories_path: str | os.PathLike[str] | None = None,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
    ) -> None:
        root = Path(root)
        csv_file = require_file(
            csv_path or root / _split_file(MIT_SPLIT_FILES, split, "Moments in Time"),
            "Moments in Time CSV",
        )
        names = read_mit_categories(
            require_file(
                categories_path or root / "moments_categories.txt", "Moments in Time categories"
            )
        )
        index_of = {name: i for i, name in enumerate(names)}
        records = read_mit_csv(csv_file)
        unknown = sorted({label for _, label in records} - set(index_of))
        if unknown:
            raise ValueError(f"{csv_file}: labels {unknown[:5]} are not in moments_categories.txt")
        video_dirs = [root / "videos", root / MIT_SPLIT_DIRS[split]]
        entries = [
            (_first_existing(video_dirs, rel), index_of[label], rel) for rel, label in records
        ]
        paths, labels = _keep_found(entries, " or ".join(str(d) for d in video_dirs), skip_missing)
        if not paths:
            raise no_samples([csv_file], "videos found")
        super().__init__(
            paths,
            labels,
            names,
            preprocessing or Preprocessing(),
            split == "train" if train is None else train,
            augmentation,
        )


def _first_existing(directories: Sequence[Path], relative: str) -> Path | None:
    for directory in directories:
        if (directory / relative).is_file():
            return directory / relative
    return None


class SSv2Dataset(VideoClassificationDataset):
    """Something-Something v2: split JSON + labels JSON + ``videos/<id>.webm|mp4``.

    Horizontal flip is OFF by default: SSv2 classes name directions
    ("Pushing something from left to right"), which a flip would turn into another class.

    Args:
        root: Dataset folder.
        split: ``"train"`` or ``"val"``.
        preprocessing: Model preprocessing.
        train: Augment + random clip position; default ``split == "train"``.
        json_path: Override the split JSON.
        labels_path: Override ``something-something-v2-labels.json``.
        augmentation: Augmentation settings (default: no flip).
        skip_missing: Skip missing videos (warning) instead of raising.

    Raises:
        FileNotFoundError: Missing files or videos (unless ``skip_missing``).
        ValueError: Malformed JSON, unknown templates or no samples.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        preprocessing: Preprocessing | None = None,
        train: bool | None = None,
        *,
        json_path: str | os.PathLike[str] | None = None,
        labels_path: str | os.PathLike[str] | None = None,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
    ) -> None:
        root = Path(root)
        json_file = require_file(
            json_path or root / _split_file(SSV2_SPLIT_FILES, split, "SSv2"), "SSv2 annotation JSON"
        )
        labels = read_ssv2_labels(
            require_file(
                labels_path or root / "something-something-v2-labels.json", "SSv2 labels JSON"
            )
        )
        names = [name for name, _ in sorted(labels.items(), key=lambda item: item[1])]
        if sorted(labels.values()) != list(range(len(labels))):
            raise ValueError(
                f"{labels_path or 'labels JSON'}: indices must be 0..{len(labels) - 1}"
            )
        videos = index_videos([root / "videos"], recursive=False)
        entries = [
            (videos.get(video_id), label, video_id)
            for video_id, label in read_ssv2_annotations(json_file, labels)
        ]
        paths, targets = _keep_found(
            entries, f"{root / 'videos'} (<id>{'|'.join(VIDEO_EXTENSIONS)})", skip_missing
        )
        if not paths:
            raise no_samples([json_file], "videos found")
        augmentation = augmentation or AugmentationConfig(horizontal_flip=False)
        super().__init__(
            paths,
            targets,
            names,
            preprocessing or Preprocessing(),
            split == "train" if train is None else train,
            augmentation,
        )
