"""Shared builder for the synthetic presets (generated data, small ViViT, CPU-sized)."""

from __future__ import annotations

from training.configs.base import DatasetConfig, TrainConfig

UPSTREAM = ("kinetics", "mit", "ssv2")


def synthetic_datasets(root: str, upstream: tuple[str, ...] = ("kinetics",), detection: bool = True) -> list[DatasetConfig]:
    """Dataset entries for a generated root; head names match the dataset kinds."""
    out = [DatasetConfig(name="ava", kind="ava", root=f"{root}/ava")] if detection else []
    for kind in upstream:
        # SSv2 classes name directions ("left to right"): never flip them.
        options = {"horizontal_flip": False} if kind == "ssv2" else {}
        out.append(DatasetConfig(name=kind, kind=kind, root=f"{root}/{kind}", options=options))
    return out


def synthetic_config(name: str, root: str, preset: str, upstream: tuple[str, ...] = ("kinetics",)) -> TrainConfig:
    cfg = TrainConfig(name=name, datasets=synthetic_datasets(root, upstream))
    cfg.run.synth_preset = preset
    cfg.run.out_dir = f"runs/{name}"
    return cfg
