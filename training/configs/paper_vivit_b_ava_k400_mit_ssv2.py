"""ViViT-B co-finetuned on AVA + K400 + MiT + SSv2 at 224p (paper Table 3)."""

from __future__ import annotations

from training.configs._paper import paper_config
from training.configs.base import TrainConfig


def get_config() -> TrainConfig:
    return paper_config(
        "paper_vivit_b_ava_k400_mit_ssv2",
        "vivit_b16_fe",
        ("kinetics400", "mit", "ssv2"),
        image_size=224,
        epochs=15.0,
    )
