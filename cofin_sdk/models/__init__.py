"""The model: the ViViT Factorised Encoder, its heads, the factory, ViT initialisation,
and the model's saved form.

Owns: :mod:`.config` (ViViTConfig, HeadSpec, variants), :mod:`.vivit`, :mod:`.heads`,
:mod:`.layers`, :mod:`.factory` (create_model, from_pretrained), :mod:`.vit_init`, and
what a saved model is: :mod:`.record` (THE model record = ``config.json``), :mod:`.card`
(the model card), :mod:`.hub_cache` (folder or Hub repo id -> local folder) and
:mod:`.hub` (save_pretrained / load_pretrained). The record, card and cache live here,
not in ``formats/`` or ``hub/``: the record is made of ViViTConfig, and saving a model
writes its card, so anywhere else would import the model package or be imported by it.

May import: the bottom layer (formats, io, preprocessing) and results; never export,
backends, hub, the Detector or the CLI (``push_to_hub`` takes a model, the model does
not publish itself).

Names resolve lazily (PEP 562), so ``cofin_sdk.models.config`` and ``.record`` (the
torch-free head specs, architecture config and record) import without torch.
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
