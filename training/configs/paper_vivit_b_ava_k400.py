"""ViViT-B co-finetuned on AVA + Kinetics-400 at 224p (paper Table 1)."""

from __future__ import annotations

from training.configs._paper import paper_config
from training.configs.base import TrainConfig


def get_config() -> TrainConfig:
    return paper_config(
        "paper_vivit_b_ava_k400", "vivit_b16_fe", ("kinetics400",), image_size=224, epochs=15.0
    )
