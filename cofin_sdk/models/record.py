"""THE model record: what a set of weights is and expects (torch-free).

A :class:`ModelRecord` is the single description that travels with weights: the
architecture, its :class:`~cofin_sdk.models.ViViTConfig` (with every head's
:class:`~cofin_sdk.models.HeadSpec`: task, classes, names, ids), the
:class:`~cofin_sdk.preprocessing.Preprocessing` the weights were trained with, and free
metadata (training config, metrics). ``save_pretrained`` writes it as ``config.json``;
``from_pretrained``, the Detector and every exported artifact read only it.

Example:
    >>> from cofin_sdk.models.config import ViViTConfig
    >>> from cofin_sdk.preprocessing import Preprocessing
    >>> record = ModelRecord(
    ...     "vivit_ti16_fe",
    ...     ViViTConfig(embed_dim=192, num_heads=3, num_frames=8, image_size=64,
    ...                 heads={"ava": {"task": "detection", "num_classes": 3}}),
    ...     Preprocessing(image_size=64, num_frames=8))
    >>> ModelRecord.from_dict(record.to_dict()) == record
    True
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cofin_sdk.models.config import VARIANTS, HeadSpec, ViViTConfig
from cofin_sdk.preprocessing import Preprocessing

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "ModelRecord",
    "WEIGHTS_NAME",
    "read_model_record",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cofin-sdk")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


@dataclasses.dataclass
class ModelRecord:
    """The typed content of a saved model's ``config.json``.

    Attributes:
        architecture: Registry name of the variant (``cofin_sdk.list_models()``).
        config: Architecture and heads.
        preprocessing: What the weights expect as input (size, frames, stride, mean/std).
        metadata: Free JSON facts (``train_config``, ``metrics``, ``step``, ...).
        cofin_version: Version of cofin that wrote the record.

    Raises:
        ValueError: On an unknown architecture, or preprocessing that disagrees with the
            architecture config (image size, frames), naming the field.
    """

    architecture: str
    config: ViViTConfig
    preprocessing: Preprocessing
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    cofin_version: str = dataclasses.field(default_factory=_version)

    def __post_init__(self) -> None:
        self.check()

    @property
    def heads(self) -> dict[str, HeadSpec]:
        """``{head_name: HeadSpec}``."""
        return self.config.heads

    def check(self, source: str = "model record") -> None:
        """Checks the record's own consistency (the weights are checked by :meth:`check_weights`)."""
        if self.architecture not in VARIANTS:
            raise ValueError(
                f"{source}: unknown architecture {self.architecture!r}; this cofin knows "
                f"{sorted(VARIANTS)} (a newer cofin may be needed)"
            )
        for field in ("image_size", "num_frames"):
            ours, theirs = getattr(self.preprocessing, field), getattr(self.config, field)
            if ours != theirs:
                raise ValueError(
                    f"{source}: preprocessing.{field} is {ours} but the model's {field} is "
                    f"{theirs}; they must agree"
                )

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` content."""
        return {
            "format_version": FORMAT_VERSION,
            "cofin_version": self.cofin_version,
            "architecture": self.architecture,
            "model": self.config.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model record") -> ModelRecord:
        """Parses and checks a ``config.json`` dict; errors name ``source`` and the field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{source}: unsupported format_version {data.get('format_version')!r} "
                f"(this cofin reads {FORMAT_VERSION})"
            )
        for key in ("architecture", "model", "preprocessing"):
            if key not in data:
                raise ValueError(f"{source}: missing field {key!r}")
        try:
            config = ViViTConfig.from_dict(dict(data["model"]))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: field 'model': {exc}") from None
        try:
            preprocessing = Preprocessing.from_dict(dict(data["preprocessing"]))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: field 'preprocessing': {exc}") from None
        record = cls.__new__(cls)
        record.architecture = str(data["architecture"])
        record.config, record.preprocessing = config, preprocessing
        record.metadata = dict(data.get("metadata") or {})
        record.cofin_version = str(data.get("cofin_version", "unknown"))
        record.check(source)
        return record

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def for_model(cls, model: Any, metadata: dict[str, Any] | None = None) -> ModelRecord:
        """The record of a :class:`~cofin_sdk.models.ViViT` (its name, config, preprocessing).

        ``metadata`` defaults to the model's own (``model.metadata``: what its record held
        when it was loaded), so re-saving or pushing a loaded model keeps its metrics.
        """
        if metadata is None:
            metadata = getattr(model, "metadata", None)
        return cls(model.name, model.config, model.preprocessing, dict(metadata or {}))

    def check_weights(self, shapes: Mapping[str, tuple[int, ...]], source: str = "weights") -> None:
        """Checks that weight tensor shapes fit the record; names the disagreeing field.

        Args:
            shapes: ``{tensor_name: shape}`` of the weights (a safetensors header).
            source: Name used in messages (the weights file).

        Raises:
            ValueError: Naming the field (``model.embed_dim``, ``model.image_size``,
                ``model.num_frames``, ``model.heads``) and both values.
        """
        cfg = self.config
        expected = {
            "spatial_pos_embed": ("model.image_size", cfg.image_size, self._grid_side),
            "temporal_pos_embed": ("model.num_frames", cfg.num_frames, self._frames),
        }
        embed = shapes.get("patch_embed.weight")
        if embed is not None and embed[0] != cfg.embed_dim:
            raise ValueError(
                f"{source}: the weights have embed_dim {embed[0]} but the record's "
                f"model.embed_dim is {cfg.embed_dim}"
            )
        for name, (field, value, from_shape) in expected.items():
            if name in shapes and from_shape(shapes[name]) != value:
                raise ValueError(
                    f"{source}: the weights are for {field.split('.')[1]} "
                    f"{from_shape(shapes[name])} but the record's {field} is {value}"
                )
        weight_heads = {k.split(".")[1] for k in shapes if k.startswith("heads.")}
        if weight_heads != set(cfg.heads):
            raise ValueError(
                f"{source}: the weights have heads {sorted(weight_heads)} but the record's "
                f"model.heads are {sorted(cfg.heads)}"
            )
        for head, spec in cfg.heads.items():
            fc = shapes.get(f"heads.{head}.fc.weight")
            if fc is not None and fc[0] != spec.num_classes:
                raise ValueError(
                    f"{source}: head {head!r} has {fc[0]} classes in the weights but "
                    f"model.heads.{head}.num_classes is {spec.num_classes}"
                )

    def _grid_side(self, shape: tuple[int, ...]) -> int:
        side = round(shape[1] ** 0.5)
        return side * self.config.tubelet_size[1]

    def _frames(self, shape: tuple[int, ...]) -> int:
        return shape[1] * self.config.tubelet_size[0]


def read_model_record(path: str | os.PathLike) -> ModelRecord:
    """Reads the record of a ``save_pretrained`` folder (or its ``config.json``).

    Raises:
        FileNotFoundError: No such folder/file, or the folder has no ``config.json``.
        ValueError: The file is not valid JSON or not a cofin model record (names the
            file and the field).
    """
    path = Path(path)
    file = path / CONFIG_NAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path} has no {CONFIG_NAME}: not a folder written by save_pretrained"
            if path.is_dir()
            else f"model record not found: {file}"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    if isinstance(data, Mapping) and "datasets" in data and "format_version" not in data:
        raise ValueError(
            f"{file} is a training config (a run folder), not a model record; use the run's "
            "final/ folder"
        )
    return ModelRecord.from_dict(data, source=str(file))
