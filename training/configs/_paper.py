"""Builders for the paper's recipes (Arnab et al. 2022, §3.2 and App. A.1).

Data roots default to ``data/<dataset>``; point them at your copies with e.g.
``--set datasets.ava.root=/data/ava --set datasets.kinetics400.root=/data/k400``.
"""

from __future__ import annotations

from training.configs.base import DatasetConfig, TrainConfig

_UPSTREAM = {
    "kinetics400": DatasetConfig(
        name="kinetics400", kind="kinetics400", root="data/kinetics400", eval_split="validate"
    ),
    "mit": DatasetConfig(name="mit", kind="mit", root="data/mit", eval_split="val"),
    "ssv2": DatasetConfig(
        name="ssv2",
        kind="ssv2",
        root="data/ssv2",
        eval_split="validation",
        options={"horizontal_flip": False},
    ),
}


def paper_config(
    name: str,
    model: str,
    upstream: tuple[str, ...],
    image_size: int = 224,
    epochs: float = 15.0,
    detection: str = "ava",
) -> TrainConfig:
    """ViViT-B/L co-finetuned on ``detection`` + ``upstream`` with the App. A.1 recipe."""
    datasets = [DatasetConfig(name=detection, kind=detection, root=f"data/{detection}")]
    datasets += [_UPSTREAM[u] for u in upstream]
    cfg = TrainConfig(name=name, datasets=datasets)
    cfg.model.name = model
    cfg.model.overrides = {"drop_path_rate": 0.2}  # stochastic depth 0.2
    cfg.model.vit_init = None  # set to an ImageNet-21K ViT (file or Hub id) as in the paper
    cfg.run.image_size = image_size  # longer side; the shorter side is zero-padded
    cfg.run.num_frames, cfg.run.frame_stride = 32, 2
    cfg.run.global_batch_size = 128
    cfg.run.micro_batch_size = 4  # per GPU and forward pass; accumulation keeps batch 128
    cfg.run.bf16 = True
    cfg.run.num_workers = 8
    cfg.run.out_dir = f"runs/{name}"
    cfg.optim.base_lr, cfg.optim.momentum, cfg.optim.label_smoothing = 0.2, 0.9, 0.1
    cfg.schedule.epochs, cfg.schedule.warmup_epochs = epochs, 2.5
    return cfg
