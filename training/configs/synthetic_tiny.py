"""Co-finetune a tiny ViViT on the `tiny` synthetic data (AVA-like + Kinetics-like).

Runs in a couple of minutes on a 2-core CPU; the data is generated on first use into
``data/synth_tiny``. ``cofin train synthetic_tiny``.
"""

from __future__ import annotations

from training.configs._synthetic import synthetic_config
from training.configs.base import TrainConfig


def get_config() -> TrainConfig:
    cfg = synthetic_config(
        "synthetic_tiny", "data/synth_tiny", "tiny", upstream=("kinetics", "ssv2")
    )
    cfg.model.name = "vivit_ti16_fe"
    cfg.model.overrides = {"spatial_depth": 2, "temporal_depth": 1, "drop_path_rate": 0.1}
    cfg.run.image_size = 96  # the tiny videos are 96×72 (AVA) and 64×48 (clips)
    cfg.run.num_frames = 8
    cfg.run.frame_stride = 2
    cfg.run.global_batch_size = 8
    cfg.run.num_workers = 1
    cfg.run.checkpoint_every = 20
    cfg.run.log_every = 5
    # lr 0.2 at batch 128 scales to 0.0125 at batch 8: too timid for a few dozen steps from
    # scratch, so the tiny recipe uses a larger base lr (still SGD + warm-up + cosine).
    cfg.optim.base_lr = 1.6
    cfg.schedule.epochs = 20
    cfg.schedule.warmup_epochs = 2
    return cfg
