"""Model configuration: one dataclass for the architecture, one per head.

These are plain data so they round-trip through ``config.json`` (see ``save_pretrained``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HeadSpec", "ViViTConfig", "TASKS", "VARIANTS"]

TASKS = ("classification", "detection")

# The registry of ``create_model`` (torch-free, so a model record can be checked without
# torch). ViViT-B/L sizes from the paper (§3.1, ViViT Factorised Encoder); Ti/S mirror
# ViT-Ti/S (12 spatial layers) with the same 4-layer temporal encoder, for CPU work and tests.
VARIANTS: dict[str, dict[str, Any]] = {
    "vivit_ti16_fe": dict(embed_dim=192, num_heads=3, spatial_depth=12, temporal_depth=4),
    "vivit_s16_fe": dict(embed_dim=384, num_heads=6, spatial_depth=12, temporal_depth=4),
    "vivit_b16_fe": dict(embed_dim=768, num_heads=12, spatial_depth=12, temporal_depth=4),
    "vivit_l16_fe": dict(embed_dim=1024, num_heads=16, spatial_depth=24, temporal_depth=4),
}


@dataclass
class HeadSpec:
    """One dataset-specific head.

    Args:
        task: ``"classification"`` (softmax over clip labels) or ``"detection"``
            (per-box multi-label logits, sigmoid).
        num_classes: number of output logits.
        class_names: optional label names (length ``num_classes``).
        class_ids: optional dataset ids of the classes (AVA label-map ids), length
            ``num_classes``; defaults to ``1..num_classes`` for detection heads.
    """

    task: str
    num_classes: int
    class_names: list[str] | None = None
    class_ids: list[int] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"head task must be one of {TASKS}, got {self.task!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {self.num_classes!r}")
        for attr in ("class_names", "class_ids"):
            values = getattr(self, attr)
            if values is not None:
                values = list(values)
                setattr(self, attr, values)
                if len(values) != self.num_classes:
                    raise ValueError(
                        f"{attr} has {len(values)} entries but num_classes is {self.num_classes}"
                    )

    @property
    def ids(self) -> list[int]:
        """Class ids: ``class_ids``, else ``1..num_classes``."""
        return list(self.class_ids) if self.class_ids else list(range(1, self.num_classes + 1))

    @property
    def labels(self) -> tuple[str, ...]:
        """THE label rule: ``class_names``, else ``class_<id>`` (never a bare index)."""
        if self.class_names:
            return tuple(self.class_names)
        return tuple(f"class_{i}" for i in self.ids)

    @classmethod
    def parse(cls, name: str, spec: HeadSpec | dict[str, Any]) -> HeadSpec:
        """Build from a ``HeadSpec`` or a dict, naming the head in errors."""
        if isinstance(spec, HeadSpec):
            return spec
        if not isinstance(spec, dict):
            raise TypeError(
                f"head {name!r}: expected a dict or HeadSpec, got {type(spec).__name__}"
            )
        unknown = set(spec) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"head {name!r}: unknown keys {sorted(unknown)}")
        try:
            return cls(**spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"head {name!r}: {exc}") from None


@dataclass
class ViViTConfig:
    """ViViT Factorised Encoder that keeps the token map (see ``ViViT``).

    Sizes follow ViT: ``embed_dim``/``num_heads``/``mlp_ratio``; depths are the number of
    spatial and temporal transformer blocks. ``num_frames`` and ``image_size`` are the
    sizes the position embeddings are built for; other sizes are resampled on the fly.
    """

    embed_dim: int = 768
    num_heads: int = 12
    spatial_depth: int = 12
    temporal_depth: int = 4
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    tubelet_size: tuple[int, int, int] = (2, 16, 16)
    num_frames: int = 32
    image_size: int = 224
    in_chans: int = 3
    class_token: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    head_dropout: float = 0.0
    roi_output_size: int = 7
    roi_sampling_ratio: int = 0
    roi_pool: str = "max"
    norm_eps: float = 1e-6
    grad_checkpointing: bool = False
    heads: dict[str, HeadSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tubelet_size = tuple(int(v) for v in self.tubelet_size)  # type: ignore[assignment]
        if len(self.tubelet_size) != 3:
            raise ValueError(f"tubelet_size must be (t, h, w), got {self.tubelet_size}")
        if self.roi_pool not in ("max", "avg"):
            raise ValueError(f"roi_pool must be 'max' or 'avg', got {self.roi_pool!r}")
        if self.num_frames % self.tubelet_size[0]:
            raise ValueError(
                f"num_frames={self.num_frames} must be a multiple of the tubelet's temporal "
                f"size {self.tubelet_size[0]}"
            )
        if self.image_size % self.tubelet_size[1]:
            raise ValueError(
                f"image_size={self.image_size} must be a multiple of the patch size {self.tubelet_size[1]}"
            )
        self.heads = {name: HeadSpec.parse(name, spec) for name, spec in dict(self.heads).items()}

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tubelet_size"] = list(self.tubelet_size)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViViTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)
