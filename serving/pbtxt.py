"""``config.pbtxt`` text for Triton models: pure functions, no Triton import.

Every field is written explicitly (dtypes, dims, ``max_batch_size``, batching, instances,
warm-up), so the server never auto-completes a config and what the repository says is
what runs. The text is protobuf text format of Triton's ``inference.ModelConfig``
(``tests/serving`` parses it with ``tritonclient``'s ``model_config_pb2``).

Example:
    >>> frames = TensorSpec("frames", "uint8", (4, 32, 32, 3))
    >>> features = TensorSpec("features", "float32", (192, 2, 2))
    >>> text = model_config("cofin_backbone", "python", 8, [frames], [features],
    ...                     batching=DynamicBatching(1000, (8,)), instances=InstanceGroup(1))
    >>> print(text.splitlines()[1])
    backend: "python"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

__all__ = [
    "DynamicBatching",
    "EnsembleStep",
    "InstanceGroup",
    "PLATFORMS",
    "TensorSpec",
    "Warmup",
    "ensemble_config",
    "model_config",
    "quote",
]

#: Triton's data types of the numpy dtypes the inference graph uses.
DATA_TYPES = {
    "uint8": "TYPE_UINT8",
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "bool": "TYPE_BOOL",
}

#: ``--platform`` -> the config line that selects Triton's backend for it.
PLATFORMS = {
    "onnxruntime": 'platform: "onnxruntime_onnx"',
    "tensorrt": 'platform: "tensorrt_plan"',
    "python": 'backend: "python"',
}
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output. ``dims`` exclude the batch dimension (``-1``: variable)."""

    name: str
    dtype: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DATA_TYPES:
            raise ValueError(
                f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {sorted(DATA_TYPES)}"
            )
        if not self.dims or any(not isinstance(d, int) or d < -1 or d == 0 for d in self.dims):
            raise ValueError(f"tensor {self.name!r}: dims must be ints >= 1 or -1, got {self.dims}")


@dataclasses.dataclass(frozen=True)
class DynamicBatching:
    """The dynamic batcher: wait up to ``delay_us`` for a batch; ``preferred`` sizes go at once."""

    delay_us: int
    preferred: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class InstanceGroup:
    """``count`` instances of ``kind`` (``"auto"``, ``"cpu"`` or ``"gpu"``)."""

    count: int
    kind: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"instance kind {self.kind!r}: choose one of {sorted(KINDS)}")
        if self.count < 1:
            raise ValueError(f"instance count must be >= 1, got {self.count}")


@dataclasses.dataclass(frozen=True)
class Warmup:
    """A warm-up request of ``batch_size``; ``data`` maps an input to ``"zero"`` or ``"random"``.

    Variable dims (``-1``) of an input are warmed up at the size given in ``dims``.
    """

    name: str
    batch_size: int
    inputs: tuple[TensorSpec, ...]
    data: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class EnsembleStep:
    """One ensemble step: ``inputs`` / ``outputs`` map the model's tensor -> ensemble tensor."""

    model: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]


def quote(text: str) -> str:
    """A protobuf text-format string literal (JSON goes in as it is, escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _dims(dims: Sequence[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def _tensors(field: str, tensors: Sequence[TensorSpec]) -> list[str]:
    lines = [f"{field} ["]
    for i, spec in enumerate(tensors):
        comma = "," if i < len(tensors) - 1 else ""
        lines += [
            "  {",
            f"    name: {quote(spec.name)}",
            f"    data_type: {DATA_TYPES[spec.dtype]}",
            f"    dims: {_dims(spec.dims)}",
            f"  }}{comma}",
        ]
    return [*lines, "]"]


def _parameters(parameters: Mapping[str, str]) -> list[str]:
    lines = []
    for key, value in parameters.items():
        lines += [
            "parameters {",
            f"  key: {quote(key)}",
            f"  value {{ string_value: {quote(value)} }}",
            "}",
        ]
    return lines


def _warmup(warmups: Sequence[Warmup]) -> list[str]:
    if not warmups:
        return []
    lines = ["model_warmup ["]
    for i, warmup in enumerate(warmups):
        lines += ["  {", f"    name: {quote(warmup.name)}", f"    batch_size: {warmup.batch_size}"]
        for spec in warmup.inputs:
            kind = warmup.data.get(spec.name, "zero")
            if kind not in ("zero", "random"):
                raise ValueError(
                    f"warm-up data for {spec.name!r} must be 'zero' or 'random', got {kind!r}"
                )
            lines += [
                "    inputs {",
                f"      key: {quote(spec.name)}",
                "      value {",
                f"        data_type: {DATA_TYPES[spec.dtype]}",
                f"        dims: {_dims(spec.dims)}",
                f"        {kind}_data: true",
                "      }",
                "    }",
            ]
        lines.append("  }," if i < len(warmups) - 1 else "  }")
    return [*lines, "]"]


def model_config(
    name: str,
    platform: str,
    max_batch_size: int,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    *,
    batching: DynamicBatching | None = None,
    instances: InstanceGroup | None = None,
    warmup: Sequence[Warmup] = (),
    parameters: Mapping[str, str] | None = None,
) -> str:
    """The ``config.pbtxt`` of one model.

    Args:
        name: Model name (its folder's name).
        platform: ``"onnxruntime"``, ``"tensorrt"`` or ``"python"`` (:data:`PLATFORMS`).
        max_batch_size: Largest batch (dim 0 of every tensor, left out of ``dims``).
        inputs, outputs: The tensors, dims without the batch dimension.
        batching: Dynamic batcher settings (``None``: no dynamic batching).
        instances: Instance group (``None``: Triton's default).
        warmup: Warm-up requests run at load time.
        parameters: ``{key: string_value}`` entries (the model record, Python-model settings).

    Raises:
        ValueError: Unknown platform, ``max_batch_size < 1``, or a bad warm-up spec.
    """
    if platform not in PLATFORMS:
        raise ValueError(f"platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    lines = [f"name: {quote(name)}", PLATFORMS[platform], f"max_batch_size: {max_batch_size}"]
    lines += _tensors("input", inputs) + _tensors("output", outputs)
    if batching is not None:
        lines.append("dynamic_batching {")
        if batching.preferred:
            lines.append(f"  preferred_batch_size: {_dims(batching.preferred)}")
        lines += [f"  max_queue_delay_microseconds: {batching.delay_us}", "}"]
    if instances is not None:
        lines += [
            "instance_group [",
            f"  {{ kind: {KINDS[instances.kind]} count: {instances.count} }}",
            "]",
        ]
    lines += _warmup(warmup) + _parameters(parameters or {})
    return "\n".join(lines) + "\n"


def ensemble_config(
    name: str,
    max_batch_size: int,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    steps: Sequence[EnsembleStep],
    *,
    max_inflight_requests: int = 0,
    parameters: Mapping[str, str] | None = None,
) -> str:
    """The ``config.pbtxt`` of an ensemble (``platform: "ensemble"``).

    Args:
        name: Ensemble name.
        max_batch_size: Largest batch; every step's model must accept it.
        inputs, outputs: The ensemble's tensors (dims without the batch dimension).
        steps: The models in data-flow order (Triton schedules by data, not by order).
        max_inflight_requests: ``ensemble_scheduling.max_inflight_requests`` backpressure
            (in-flight requests per step; Triton >= 25.10, shared across ensemble requests
            since 26.04). ``0`` leaves the field out: older servers (the 2.51 bundled in
            nvidia-pytriton) refuse a config that has it.
        parameters: ``{key: string_value}`` entries (the model record).
    """
    lines = [f"name: {quote(name)}", 'platform: "ensemble"', f"max_batch_size: {max_batch_size}"]
    lines += _tensors("input", inputs) + _tensors("output", outputs)
    lines += ["ensemble_scheduling {", "  step ["]
    for i, step in enumerate(steps):
        lines += ["    {", f"      model_name: {quote(step.model)}", "      model_version: -1"]
        for field, mapping in (("input_map", step.inputs), ("output_map", step.outputs)):
            for key, value in mapping.items():
                lines.append(f"      {field} {{ key: {quote(key)} value: {quote(value)} }}")
        lines.append("    }," if i < len(steps) - 1 else "    }")
    lines.append("  ]")
    if max_inflight_requests:
        lines.append(f"  max_inflight_requests: {max_inflight_requests}")
    lines.append("}")
    lines += _parameters(parameters or {})
    return "\n".join(lines) + "\n"
