"""THE place that turns a training config (or a model record) into datasets and models.

The trainer and the evaluation runner both build through here, so neither reaches into
the other: the trainer builds the training datasets and the initialised model; the
runner builds the evaluation datasets and rebuilds a checkpoint's model from the
:class:`~cofin_sdk.models.record.ModelRecord` stored with it (no training data needed).

Example:
    >>> from training.configs.base import load_config
    >>> train_cfg = load_config("synthetic_tiny")[0]
    >>> preprocessing_of(train_cfg).num_frames == train_cfg.run.num_frames
    True
"""

from __future__ import annotations

import logging

from torch.utils.data import Dataset

from cofin_sdk import create_model, from_pretrained, init_from_vit
from cofin_sdk.models import HeadSpec, ViViT
from cofin_sdk.models.record import ModelRecord
from cofin_sdk.preprocessing import Preprocessing
from training.configs.base import TrainConfig

__all__ = [
    "build_datasets",
    "build_model",
    "head_specs",
    "model_from_record",
    "new_model",
    "preprocessing_of",
]

logger = logging.getLogger(__name__)


def preprocessing_of(train_cfg: TrainConfig) -> Preprocessing:
    """The full input record of a run; saved with the model (``config.json``)."""
    return Preprocessing(
        image_size=train_cfg.run.image_size,
        num_frames=train_cfg.run.num_frames,
        frame_stride=train_cfg.run.frame_stride,
        mean=tuple(train_cfg.run.mean),
        std=tuple(train_cfg.run.std),
        resize=train_cfg.run.resize,
        keyframe=train_cfg.run.keyframe,
    )


def build_datasets(train_cfg: TrainConfig, split: str = "train") -> list[Dataset]:
    """One dataset per ``train_cfg.datasets`` entry (``split`` = "train" or "eval")."""
    from training.data import AugmentationConfig, build_dataset

    prep = preprocessing_of(train_cfg)
    out = []
    for d in train_cfg.datasets:
        train = split == "train"
        options = dict(d.options if train else {**d.options, **d.eval_options})
        if train:
            aug = train_cfg.augment
            # SSv2 labels name directions ("left to right"): no flip unless asked explicitly.
            default_flip = aug.horizontal_flip and d.kind.lower() != "ssv2"
            flip = options.pop("horizontal_flip", default_flip)
            options["augmentation"] = AugmentationConfig(
                tuple(aug.scale_range), aug.box_jitter, flip
            )
        else:
            options.pop("horizontal_flip", None)
        out.append(
            build_dataset(
                d.kind, d.root, d.train_split if train else d.eval_split, prep, train, **options
            )
        )
    return out


def head_specs(train_cfg: TrainConfig, datasets: list[Dataset]) -> dict[str, HeadSpec]:
    """``{dataset name: HeadSpec}``: one head per dataset, classes as the dataset lists them."""
    heads = {}
    for d, ds in zip(train_cfg.datasets, datasets):
        task = "detection" if hasattr(ds, "class_ids") else "classification"
        class_ids = [int(i) for i in ds.class_ids] if task == "detection" else None
        heads[d.name] = HeadSpec(task, ds.num_classes, list(ds.class_names), class_ids)
    return heads


def new_model(train_cfg: TrainConfig, heads: dict[str, HeadSpec]) -> ViViT:
    """The run's architecture with ``heads``, randomly initialised (no ViT init, no backbone)."""
    model = create_model(
        train_cfg.model.name,
        heads=heads,
        num_frames=train_cfg.run.num_frames,
        image_size=train_cfg.run.image_size,
        **train_cfg.model.overrides,
    )
    model.preprocessing = preprocessing_of(train_cfg)
    return model


def build_model(train_cfg: TrainConfig, datasets: list[Dataset]) -> ViViT:
    """Create the ViViT with one head per dataset, then initialise it as configured."""
    model = new_model(train_cfg, head_specs(train_cfg, datasets))
    if train_cfg.model.vit_init:
        report = init_from_vit(
            model, train_cfg.model.vit_init, tubelet_init=train_cfg.model.tubelet_init
        )
        logger.info(
            "ViT init: %d tensors loaded, %d fresh",
            len(report.loaded_keys),
            len(report.missing_keys),
        )
    if train_cfg.model.backbone_from:
        _load_backbone(model, train_cfg.model.backbone_from)
    return model


def model_from_record(record: ModelRecord) -> ViViT:
    """The (randomly initialised) model a record describes; load its weights next.

    Example:
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...                      num_frames=4, image_size=32)
        >>> model_from_record(ModelRecord.for_model(model)).config == model.config
        True
    """
    model = ViViT(record.config, name=record.architecture)
    model.preprocessing = record.preprocessing
    return model


def _load_backbone(model: ViViT, source: str) -> None:
    """Transfer baseline stage 2: every non-head weight from a saved model; heads stay new."""
    donor = from_pretrained(source).state_dict()
    own = model.state_dict()
    backbone = {k: v for k, v in donor.items() if not k.startswith("heads.")}
    missing = [k for k in own if not k.startswith("heads.") and k not in backbone]
    shapes = [k for k in backbone if k in own and backbone[k].shape != own[k].shape]
    if missing or shapes:
        raise ValueError(
            f"backbone of {source} does not fit: missing {missing[:5]}, shape mismatches {shapes[:5]}"
        )
    model.load_state_dict({**own, **backbone}, strict=True)
    logger.info("backbone initialised from %s (%d tensors), heads fresh", source, len(backbone))
