"""The ViViT Factorised Encoder, its heads, the factory, ViT initialisation and save/load."""

from __future__ import annotations

from .config import HeadSpec, ViViTConfig
from .factory import create_model, list_models, model_config
from .hub import from_pretrained, save_pretrained
from .vit_init import InitReport, checkpoint_filter_fn, init_from_vit
from .vivit import ViViT

__all__ = [
    "HeadSpec",
    "InitReport",
    "ViViT",
    "ViViTConfig",
    "checkpoint_filter_fn",
    "create_model",
    "from_pretrained",
    "init_from_vit",
    "list_models",
    "model_config",
    "save_pretrained",
]
