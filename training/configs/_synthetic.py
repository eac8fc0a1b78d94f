"""Shared builder for the synthetic presets (generated data, small ViViT, CPU-sized)."""

from __future__ import annotations

from training.configs.base import DatasetConfig, TrainConfig

UPSTREAM = ("kinetics", "mit", "ssv2")


def synthetic_datasets(
    root: str, upstream: tuple[str, ...] = ("kinetics",), detection: bool = True
) -> list[DatasetConfig]:
    """Dataset entries for a generated root; head names match the dataset kinds."""
    out = [DatasetConfig(name="ava", kind="ava", root=f"{root}/ava")] if detection else []
    for kind in upstream:
        # SSv2 classes name directions ("left to right"): never flip them.
        options = {"horizontal_flip": False} if kind == "ssv2" else {}
        out.append(DatasetConfig(name=kind, kind=kind, root=f"{root}/{kind}", options=options))
    return out


def synthetic_config(
    name: str, root: str, preset: str, upstream: tuple[str, ...] = ("kinetics",)
) -> TrainConfig:
    cfg = TrainConfig(name=name, datasets=synthetic_datasets(root, upstream))
    cfg.run.synth_preset, cfg.run.synth_root = preset, root
    cfg.run.out_dir = f"runs/{name}"
    return cfg


def transfer_stages(
    cofinetune: TrainConfig, epochs_upstream: float, epochs_detection: float
) -> list[TrainConfig]:
    """The traditional transfer baseline matching a co-finetuning config (paper Table 1).

    Stage 1 trains on the upstream datasets only; stage 2 takes that backbone, creates a
    new detection head and a fresh optimiser, and finetunes on the detection dataset.
    Epoch counts are chosen by the caller so the total data seen matches co-finetuning.
    """
    import copy

    detection = [d for d in cofinetune.datasets if d.kind in ("ava", "ava_kinetics")]
    upstream = [d for d in cofinetune.datasets if d not in detection]
    stage1 = copy.deepcopy(cofinetune)
    stage1.name = f"{cofinetune.name}_stage1_upstream"
    stage1.datasets = copy.deepcopy(upstream)
    stage1.schedule.epochs = epochs_upstream
    stage1.run.out_dir = f"{cofinetune.run.out_dir}/stage1_upstream"
    stage2 = copy.deepcopy(cofinetune)
    stage2.name = f"{cofinetune.name}_stage2_finetune"
    stage2.datasets = copy.deepcopy(detection)
    stage2.schedule.epochs = epochs_detection
    stage2.model.backbone_from = f"{stage1.run.out_dir}/final"
    stage2.run.out_dir = f"{cofinetune.run.out_dir}/stage2_finetune"
    return [stage1, stage2]
