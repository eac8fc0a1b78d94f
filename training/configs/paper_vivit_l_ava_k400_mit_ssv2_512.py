"""ViViT-L co-finetuned on AVA + K400 + MiT + SSv2 at 512p (the paper's best setting)."""

from __future__ import annotations

from training.configs._paper import paper_config
from training.configs.base import TrainConfig


def get_config() -> TrainConfig:
    return paper_config(
        "paper_vivit_l_ava_k400_mit_ssv2_512",
        "vivit_l16_fe",
        ("kinetics400", "mit", "ssv2"),
        image_size=512,
        epochs=15.0,
    )
