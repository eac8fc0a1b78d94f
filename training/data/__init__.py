"""Datasets of the real formats (AVA, AVA-Kinetics, Kinetics, Moments in Time, SSv2),
training augmentations and batch collation.

Example:
    >>> from cofin_sdk.preprocessing import Preprocessing
    >>> ds = build_dataset("ava", "data/ava", "train", Preprocessing(image_size=224))  # doctest: +SKIP
    >>> sorted(DATASETS)
    ['ava', 'ava_kinetics', 'kinetics', 'kinetics400', 'kinetics700', 'mit', 'moments_in_time', 'ssv2']
"""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import Dataset

from cofin_sdk.preprocessing import Preprocessing
from training.data.ava import AVADataset, AVAKineticsDataset, DetectionDataset
from training.data.classification import (
    KineticsDataset,
    MomentsInTimeDataset,
    SSv2Dataset,
    VideoClassificationDataset,
)
from training.data.collate import collate_classification, collate_detection
from training.data.transforms import AugmentationConfig, TrainAugmentation, prepare_clip

__all__ = [
    "AVADataset",
    "AVAKineticsDataset",
    "AugmentationConfig",
    "DATASETS",
    "DETECTION_DATASETS",
    "DetectionDataset",
    "KineticsDataset",
    "MomentsInTimeDataset",
    "SSv2Dataset",
    "TrainAugmentation",
    "VideoClassificationDataset",
    "build_dataset",
    "collate_classification",
    "collate_detection",
    "is_detection",
    "prepare_clip",
]

#: Registry: dataset name → class. Aliases map to the same class.
DATASETS: dict[str, type[Dataset]] = {
    "ava": AVADataset,
    "ava_kinetics": AVAKineticsDataset,
    "kinetics": KineticsDataset,
    "kinetics400": KineticsDataset,
    "kinetics700": KineticsDataset,
    "mit": MomentsInTimeDataset,
    "moments_in_time": MomentsInTimeDataset,
    "ssv2": SSv2Dataset,
}
DETECTION_DATASETS: frozenset[str] = frozenset({"ava", "ava_kinetics"})


def is_detection(name: str) -> bool:
    """Whether registry entry ``name`` is a detection (box) dataset."""
    return _canonical(name) in DETECTION_DATASETS


def _canonical(name: str) -> str:
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return key


def build_dataset(
    name: str,
    root: str | os.PathLike[str],
    split: str = "train",
    preprocessing: Preprocessing | None = None,
    train: bool | None = None,
    **kwargs: Any,
) -> Dataset:
    """Build a dataset from the registry.

    Args:
        name: Registry key (case-insensitive, ``-`` = ``_``), e.g. ``"ava"``, ``"kinetics400"``.
        root: The dataset's own folder (e.g. ``<synth root>/ava``).
        split: ``"train"`` or ``"val"`` (some datasets accept more, see their classes).
        preprocessing: Model preprocessing; default :class:`Preprocessing()`.
        train: Augment; default ``split == "train"``.
        **kwargs: Dataset-specific options (e.g. ``boxes=``, ``skip_missing=``).

    Returns:
        The dataset: classification samples ``{"video", "label"}``, detection samples as
        documented in :mod:`training.data.ava`.

    Raises:
        ValueError: Unknown ``name`` (the message lists the known names).
    """
    dataset_cls = DATASETS[_canonical(name)]
    return dataset_cls(root, split, preprocessing, train, **kwargs)
