"""Transfer baseline: finetune on AVA only for 20 epochs (set model.backbone_from to a Kinetics-trained model)."""

from __future__ import annotations

from training.configs._paper import paper_config
from training.configs.base import TrainConfig


def get_config() -> TrainConfig:
    return paper_config(
        "paper_vivit_b_ava_finetune", "vivit_b16_fe", (), image_size=224, epochs=20.0
    )
