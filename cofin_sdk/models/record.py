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
import logging
import math
import os
import re
import types
import typing
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

logger = logging.getLogger(__name__)


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
        """Parses and checks a ``config.json`` dict; errors name ``source`` and the field.

        Every field is checked against the typed record (type and range) before anything
        is built: ``config.json: model.num_heads must be a positive integer, got 'three'``.
        Unknown fields are logged as warnings and ignored (a newer cofin may have written
        them); when a record fails and a newer cofin wrote it, the error says which.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        newer = _newer_writer(data)
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{source}: unsupported format_version {data.get('format_version')!r} "
                f"(this cofin reads {FORMAT_VERSION}){newer}"
            )
        try:
            return cls._parse(data, source)
        except ValueError as exc:
            raise ValueError(f"{exc}{newer}") from None

    @classmethod
    def _parse(cls, data: Mapping[str, Any], source: str) -> ModelRecord:
        for key in ("architecture", "model", "preprocessing"):
            if key not in data:
                raise ValueError(f"{source}: missing field {key!r}")
        top_level = {"format_version", "cofin_version", "architecture", "model"}
        _warn_unknown(data, top_level | {"preprocessing", "metadata"}, source, "")
        for key, kind in (("architecture", str), ("cofin_version", str), ("metadata", dict)):
            if key in data and data[key] is not None and not isinstance(data[key], kind):
                raise ValueError(
                    f"{source}: {key} must be a JSON {_JSON_NAMES[kind]}, got {data[key]!r}"
                )
        model = _checked_fields(ViViTConfig, data["model"], source, "model.", data)
        heads = model.get("heads", {})
        if not isinstance(heads, Mapping):
            raise ValueError(f"{source}: model.heads must be a JSON object, got {heads!r}")
        model["heads"] = {
            name: _checked_fields(HeadSpec, spec, source, f"model.heads.{name}.", data)
            for name, spec in heads.items()
        }
        preprocessing = _checked_fields(
            Preprocessing, data["preprocessing"], source, "preprocessing.", data
        )
        try:
            config = ViViTConfig.from_dict(model)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: field 'model': {exc}") from None
        try:
            preprocessing = Preprocessing.from_dict(preprocessing)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: field 'preprocessing': {exc}") from None
        record = cls.__new__(cls)
        record.architecture = data["architecture"]
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


# --------------------------------------------------------------------------- field checks
# The typed record's dataclasses say each field's type; these say the ranges that the
# type alone does not (every other int must be >= 1, every other float finite and >= 0).
_NON_NEGATIVE_INTS = {"roi_sampling_ratio"}
_POSITIVE_FLOATS = {"mlp_ratio", "norm_eps"}
_UNIT_RATES = {"drop_rate", "attn_drop_rate", "drop_path_rate", "head_dropout"}
_JSON_NAMES = {str: "string", dict: "object", bool: "boolean"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _field_problem(name: str, hint: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a field annotated ``hint`` (None when fine)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is str:
        return None if isinstance(value, str) else "must be a string"
    if hint is int:
        if name in _NON_NEGATIVE_INTS:
            ok = _is_int(value) and value >= 0
            return None if ok else "must be a non-negative integer"
        return None if _is_int(value) and value >= 1 else "must be a positive integer"
    if hint is float:
        if name in _UNIT_RATES:
            return None if _is_number(value) and 0 <= value < 1 else "must be a number in [0, 1)"
        if name in _POSITIVE_FLOATS:
            return None if _is_number(value) and value > 0 else "must be a positive number"
        return None if _is_number(value) and value >= 0 else "must be a finite number >= 0"
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return f"must be a list, got {type(value).__name__}"
        item = args[0]
        if origin is tuple and Ellipsis not in args and len(value) != len(args):
            return f"must be a list of {len(args)} {_plural(item)}"
        bad = [v for v in value if _field_problem(name, item, v)]
        return f"must be a list of {_plural(item)}" if bad else None
    if origin is dict:
        return None if isinstance(value, Mapping) else "must be a JSON object"
    return None  # a type this table does not know: the dataclass checks it


def _plural(hint: Any) -> str:
    return {int: "positive integers", float: "numbers", str: "strings"}.get(hint, str(hint))


def _checked_fields(
    cls: type, data: Any, source: str, path: str, record: Mapping[str, Any]
) -> dict[str, Any]:
    """``data`` as a dict of ``cls``'s known fields, each checked against its annotation.

    Args:
        cls: The typed dataclass (``ViViTConfig``, ``HeadSpec``, ``Preprocessing``).
        data: The JSON value found at ``path``.
        source: The file, for messages.
        path: Dotted field path of ``data`` in the record (``"model."``).
        record: The whole record (its ``cofin_version`` goes into warnings).

    Raises:
        ValueError: ``"<source>: <path><field> must be ..., got <value>"``.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: {path.rstrip('.')} must be a JSON object, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    _warn_unknown(data, known, source, path, record.get("cofin_version", "?"))
    out = {}
    for name in known & set(data):
        problem = _field_problem(name, hints[name], data[name])
        if problem:
            raise ValueError(f"{source}: {path}{name} {problem}, got {data[name]!r}")
        out[name] = data[name]
    return out


def _warn_unknown(
    data: Mapping[str, Any], known: set[str], source: str, path: str, writer: Any = None
) -> None:
    """Logs one warning per field of ``data`` that the typed record does not know."""
    writer = data.get("cofin_version", "?") if writer is None else writer
    for name in sorted(set(data) - known):
        logger.warning(
            "%s: ignoring unknown field %s%s (written by cofin %s; this is cofin %s)",
            source,
            path,
            name,
            writer,
            _version(),
        )


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def _newer_writer(data: Mapping[str, Any]) -> str:
    """A sentence naming the cofin that wrote ``data`` when it is newer than this one."""
    writer, ours = data.get("cofin_version"), _version()
    newer_format = _is_int(data.get("format_version")) and data["format_version"] > FORMAT_VERSION
    if isinstance(writer, str) and (newer_format or _version_key(writer) > _version_key(ours)):
        return (
            f"; the record was written by cofin {writer}, newer than this cofin {ours}: "
            "upgrade with `pip install -U cofin-sdk`"
        )
    return ""


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
