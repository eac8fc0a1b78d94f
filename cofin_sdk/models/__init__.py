"""The ViViT Factorised Encoder, its heads, the factory, ViT initialisation and save/load.

Names resolve lazily (PEP 562), so ``cofin_sdk.models.config`` (the torch-free head specs
and architecture config) imports without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofin_sdk._lazy import lazy_attributes

if TYPE_CHECKING:
    from .config import HeadSpec, ViViTConfig
    from .factory import create_model, from_pretrained, list_models, model_config
    from .hub import save_pretrained
    from .vit_init import InitReport, checkpoint_filter_fn, init_from_vit
    from .vivit import ViViT

_WHERE = {
    "HeadSpec": "config",
    "ViViTConfig": "config",
    "create_model": "factory",
    "list_models": "factory",
    "model_config": "factory",
    "from_pretrained": "factory",
    "save_pretrained": "hub",
    "InitReport": "vit_init",
    "checkpoint_filter_fn": "vit_init",
    "init_from_vit": "vit_init",
    "ViViT": "vivit",
}
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


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
