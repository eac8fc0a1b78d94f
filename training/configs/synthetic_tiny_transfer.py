"""Transfer-learning baseline on the `tiny` synthetic data: upstream first, then AVA.

Stage 1 trains on the Kinetics-like and SSv2-like clips; stage 2 starts from that
backbone with a new AVA head and a fresh optimiser. The epochs are set so each stage
sees its datasets as often as ``synthetic_tiny`` does (same total data).
"""

from __future__ import annotations

from training.configs import synthetic_tiny
from training.configs._synthetic import transfer_stages
from training.configs.base import TrainConfig


def get_config() -> list[TrainConfig]:
    cofinetune = synthetic_tiny.get_config()
    cofinetune.name = "synthetic_tiny_transfer"
    cofinetune.run.out_dir = "runs/synthetic_tiny_transfer"
    epochs = cofinetune.schedule.epochs
    return transfer_stages(cofinetune, epochs_upstream=epochs, epochs_detection=epochs)
