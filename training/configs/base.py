"""Typed training configuration (configs are code: each preset is a ``get_config()``).

A preset module ``training/configs/<name>.py`` returns a :class:`TrainConfig` (or a list
of them for multi-stage recipes such as the transfer baseline). Values can be
overridden from the command line with ``--set section.field=value``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import json
import pkgutil
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cofin_sdk.preprocessing import DEFAULT_RESIZE, check_placement

__all__ = [
    "AugmentConfig",
    "DatasetConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "SamplerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "apply_overrides",
    "list_configs",
    "load_config",
]

PAPER_GLOBAL_BATCH = 128  # paper App. A.1: base lr 0.2 at global batch 128


@dataclass
class ModelConfig:
    """Which ViViT to build and how to initialise it."""

    name: str = "vivit_b16_fe"
    overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"drop_path_rate": 0.2}
    vit_init: str | None = None  # image-ViT checkpoint (file / folder / Hub id); None = random
    tubelet_init: str = "central_frame"
    backbone_from: str | None = None  # transfer baseline stage 2: backbone of a saved model


@dataclass
class DatasetConfig:
    """One dataset = one head. ``kind`` is a ``training.data`` registry name."""

    name: str  # head name, e.g. "ava", "kinetics400"
    kind: str  # "ava", "ava_kinetics", "kinetics", "mit", "ssv2", ...
    root: str
    train_split: str = "train"
    eval_split: str = "val"
    options: dict[str, Any] = field(default_factory=dict)  # passed to build_dataset
    eval_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SamplerConfig:
    """How minibatches pick their dataset (paper §3.2): one dataset per minibatch."""

    kind: str = "weighted"  # "weighted" (∝ size, paper default), "alternating", "sequential"
    # weighted only: each epoch is a seeded shuffle of exactly size-proportional step counts
    exact_quota: bool = False


@dataclass
class OptimConfig:
    base_lr: float = 0.2
    base_batch_size: int = PAPER_GLOBAL_BATCH  # lr scales linearly: lr = base_lr * B / base_batch
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    grad_clip_norm: float | None = None
    label_smoothing: float = 0.1


@dataclass
class ScheduleConfig:
    epochs: float = 15.0  # 15 co-finetuning, 20 for the finetuning baseline (App. A.1)
    warmup_epochs: float = 2.5
    min_lr_ratio: float = 0.0
    max_steps: int | None = None  # cap for quick runs; the schedule still spans `epochs`


@dataclass
class AugmentConfig:
    scale_range: tuple[float, float] = (0.875, 1.333)
    box_jitter: float = 0.15
    horizontal_flip: bool = True


@dataclass
class EvalConfig:
    every_steps: int = 0  # 0: only at the end
    at_end: bool = True
    max_batches: int | None = None
    head_threshold: int | None = None  # AVA head: > this many training labels (paper: 10,000)
    tail_threshold: int | None = None  # AVA tail: < this many (paper: 1,000); None = data's own


@dataclass
class RunConfig:
    out_dir: str = "runs/default"
    seed: int = 0
    global_batch_size: int = 128
    micro_batch_size: int | None = None  # per rank and forward pass; None = no accumulation
    image_size: int = 224
    num_frames: int = 32
    frame_stride: int = 2
    # Keyframe placement in its clip (cofin_sdk.clip_rule): "centre" (the paper's) or "causal"
    # (the clip ends at the keyframe: live streams need no future frames). Saved with the model.
    keyframe: str = "centre"
    # Input normalisation on the [0, 1] scale; 0.5/0.5 is what the ImageNet-21K ViT
    # checkpoints of the paper were trained with. Saved with the model (its record).
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    # The letterbox resize rule (cofin_sdk.preprocessing.RESIZE_RULES); saved with the model.
    resize: str = DEFAULT_RESIZE
    num_workers: int = 2
    device: str = "auto"  # "auto" = cuda if available else cpu
    bf16: bool = False  # bf16 autocast (GPU; works on CPU too but slowly)
    checkpoint_every: int = 500
    keep_last: int = 2
    log_every: int = 10
    tensorboard: bool = True
    progress: bool = True
    synth_preset: str | None = None  # generate synthetic data into synth_root when missing
    synth_root: str | None = None  # where synth_preset's data lives (datasets under it)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    datasets: list[DatasetConfig] = field(default_factory=list)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    name: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data, "config")

    def validate(self) -> None:
        if not self.datasets:
            raise ValueError("config has no datasets: add DatasetConfig entries to `datasets`")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset (head) names must be unique, got {names}")
        if self.sampler.kind not in ("weighted", "alternating", "sequential"):
            raise ValueError(
                f"sampler.kind must be weighted|alternating|sequential, got {self.sampler.kind!r}"
            )
        check_placement(self.run.keyframe, "run.keyframe=")
        if self.run.micro_batch_size and self.run.global_batch_size % self.run.micro_batch_size:
            raise ValueError("run.global_batch_size must be a multiple of run.micro_batch_size")


def _build(cls: type, data: Any, where: str) -> Any:
    """Rebuild nested dataclasses from plain dicts (the saved ``config.json``)."""
    if not dataclasses.is_dataclass(cls) or not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        origin = typing.get_origin(hint)
        if origin is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            value = [
                _build(typing.get_args(hint)[0], v, f"{where}.{name}[{i}]")
                for i, v in enumerate(value)
            ]
        elif dataclasses.is_dataclass(hint):
            value = _build(hint, value, f"{where}.{name}")
        elif origin is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


# ----------------------------------------------------------------------------- overrides
def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return text


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``section.field=value`` overrides in place (``datasets.ava.root=...`` by head name).

    Raises:
        ValueError: malformed override or unknown key (the message lists valid keys).
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.field=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        target: Any = config
        for i, part in enumerate(parts[:-1]):
            target = _descend(target, part, ".".join(parts[: i + 1]))
        _assign(target, parts[-1], _parse_value(raw.strip()), key)
    return config


def _descend(target: Any, part: str, path: str) -> Any:
    if isinstance(target, list):  # datasets.<head name>
        for item in target:
            if getattr(item, "name", None) == part:
                return item
        raise ValueError(
            f"unknown dataset {part!r} in override {path!r}; have {[d.name for d in target]}"
        )
    if isinstance(target, dict):
        return target.setdefault(part, {})
    if not dataclasses.is_dataclass(target) or not hasattr(target, part):
        raise ValueError(f"unknown config key {path!r}; valid here: {_fields(target)}")
    return getattr(target, part)


def _assign(target: Any, name: str, value: Any, key: str) -> None:
    if isinstance(target, dict):
        target[name] = value
        return
    if not dataclasses.is_dataclass(target) or name not in {
        f.name for f in dataclasses.fields(target)
    }:
        raise ValueError(f"unknown config key {key!r}; valid here: {_fields(target)}")
    hint = typing.get_type_hints(type(target))[name]
    if hint is float and isinstance(value, int):
        value = float(value)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        value = tuple(value)
    expected = _simple_type(hint)
    if expected is not None and value is not None and not isinstance(value, expected):
        raise ValueError(f"override {key}: expected {expected.__name__}, got {value!r}")
    setattr(target, name, value)


def _simple_type(hint: Any) -> type | None:
    if hint in (int, float, str, bool):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return args[0] if len(args) == 1 and args[0] in (int, float, str, bool) else None
    return None


def _fields(target: Any) -> list[str]:
    if dataclasses.is_dataclass(target):
        return sorted(f.name for f in dataclasses.fields(target))
    return []


# ----------------------------------------------------------------------------- presets
def list_configs() -> list[str]:
    """Preset names in ``training/configs``."""
    import training.configs as pkg

    return sorted(
        m.name
        for m in pkgutil.iter_modules(pkg.__path__)
        if not m.name.startswith("_") and m.name != "base"
    )


def load_config(name_or_path: str, overrides: list[str] | None = None) -> list[TrainConfig]:
    """Load a preset by name, a ``.py`` file with ``get_config()``, or a saved ``config.json``.

    Returns a list of stages (one for most recipes; two for the transfer baseline).
    """
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        raw = json.loads(path.read_text())
        stages = [TrainConfig.from_dict(s) for s in (raw if isinstance(raw, list) else [raw])]
    else:
        stages = _call_get_config(name_or_path, path)
    for stage in stages:
        apply_overrides(stage, overrides or [])
        stage.validate()
    return stages


def _call_get_config(name: str, path: Path) -> list[TrainConfig]:
    if path.suffix == ".py" and path.is_file():
        spec = importlib.util.spec_from_file_location(f"cofin_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    elif name in list_configs():
        module = importlib.import_module(f"training.configs.{name}")
    else:
        raise ValueError(f"unknown config {name!r}: not a file; presets are {list_configs()}")
    result = module.get_config()
    return list(result) if isinstance(result, (list, tuple)) else [result]
