"""The model registry and the one factory used by training, export and every backend:
:func:`create_model` builds a new model, :func:`from_pretrained` loads a saved one."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from .config import VARIANTS as _VARIANTS
from .config import HeadSpec, ViViTConfig
from .hub import load_pretrained
from .vivit import ViViT

if TYPE_CHECKING:
    import torch

__all__ = ["create_model", "from_pretrained", "list_models", "model_config"]


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_VARIANTS)


def model_config(name: str, heads: dict[str, Any] | None = None, **overrides: Any) -> ViViTConfig:
    """The :class:`ViViTConfig` that ``create_model(name, heads, **overrides)`` would build."""
    if name not in _VARIANTS:
        raise ValueError(f"unknown model {name!r}; available: {list_models()}")
    known = {f.name for f in dataclasses.fields(ViViTConfig)} - {"heads"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(
            f"unknown model options {sorted(unknown)} for {name!r}; valid options: {sorted(known)}"
        )
    args = {**_VARIANTS[name], **overrides}
    head_specs = {n: HeadSpec.parse(n, spec) for n, spec in (heads or {}).items()}
    return ViViTConfig(heads=head_specs, **args)


def create_model(name: str, heads: dict[str, Any] | None = None, **overrides: Any) -> ViViT:
    """Build a ViViT Factorised Encoder with one head per dataset.

    Args:
        name: a registered variant (``list_models()``), e.g. ``"vivit_b16_fe"``.
        heads: ``{dataset_name: {"task": "classification"|"detection", "num_classes": C,
            "class_names": [...] (optional)}}``.
        **overrides: any :class:`ViViTConfig` field, e.g. ``num_frames=32, image_size=224,
            spatial_depth=2, drop_path_rate=0.2, grad_checkpointing=True``.

    Returns:
        A randomly initialised :class:`ViViT`. Load an image ViT with
        :func:`cofin_sdk.init_from_vit` or a saved model with :func:`cofin_sdk.from_pretrained`.

    Raises:
        ValueError: unknown variant, unknown option, or an invalid head spec.

    Example:
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...                      num_frames=4, image_size=32,
        ...                      heads={"k400": {"task": "classification", "num_classes": 400}})
        >>> model.head_names
        ['k400']
    """
    return ViViT(model_config(name, heads, **overrides), name=name)


def from_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
    model_cls: type[ViViT] = ViViT,
) -> ViViT:
    """Load a model saved with ``save_pretrained`` from a folder or a Hub repo id.

    :func:`cofin_sdk.models.hub.load_pretrained` with :class:`ViViT` as the default class
    (arguments, checks and errors: see there).
    """
    return load_pretrained(
        name_or_path,
        revision=revision,
        cache_dir=cache_dir,
        map_location=map_location,
        model_cls=model_cls,
    )
