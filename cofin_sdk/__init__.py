"""cofin: co-finetuned ViViT video transformers for spatio-temporal action localisation."""

from __future__ import annotations

from .models import (
    HeadSpec,
    ViViT,
    ViViTConfig,
    create_model,
    from_pretrained,
    init_from_vit,
    list_models,
    save_pretrained,
)

__version__ = "0.1.0"
__all__ = [
    "HeadSpec", "ViViT", "ViViTConfig", "__version__", "create_model", "from_pretrained",
    "init_from_vit", "list_models", "save_pretrained",
]
