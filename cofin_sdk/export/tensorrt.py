"""TensorRT engines from the exported ONNX graphs (``cofin export --format tensorrt``).

Building an engine needs the ``tensorrt`` package and a CUDA GPU; everything before the
build (the optimisation profiles for batch and box count, the builder config) is pure and
tested on CPU. Re-exported by :mod:`cofin_sdk.export`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cofin_sdk.export.format import BATCH, BOXES, OPT_BOXES, check_sizes, sha256_file

logger = logging.getLogger("cofin_sdk.export")

__all__ = [
    "build_tensorrt_engine",
    "check_tensorrt",
    "configure_tensorrt",
    "tensorrt_profile",
    "write_engines",
]


def check_tensorrt(flag: str = "format=") -> None:
    """Stops at once when TensorRT cannot build here, naming what is missing.

    Raises:
        ImportError: No ``tensorrt`` package (and whether a CUDA GPU is missing too).
        ValueError: ``tensorrt`` is installed but torch sees no CUDA GPU.
    """
    import importlib.util

    import torch

    has_tensorrt = importlib.util.find_spec("tensorrt") is not None
    missing = (
        []
        if has_tensorrt
        else ['the tensorrt package (pip install tensorrt, or pip install "cofin-sdk[tensorrt]")']
    )
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU (torch.cuda.is_available() is False here)")
    if missing:
        raise (ValueError if has_tensorrt else ImportError)(
            f"{flag}tensorrt needs {' and '.join(missing)}; export ONNX graphs with "
            f"{flag}onnx instead and build the engines on the GPU machine"
        )


def tensorrt_profile(
    inputs: Sequence[Mapping[str, Any]], batch: int, max_batch: int, max_boxes: int
) -> dict[str, dict[str, list[int]]]:
    """One TensorRT optimisation profile: ``{input: {"min", "opt", "max": shape}}``.

    The dynamic dims get ``batch``: 1 / ``batch`` / ``max_batch`` and ``num_boxes``:
    1 / ``min(8, max_boxes)`` / ``max_boxes``; the other dims are the graph's own.

    Example:
        >>> tensorrt_profile([{"name": "boxes", "shape": ["batch", "num_boxes", 4]}], 2, 8, 32)
        {'boxes': {'min': [1, 1, 4], 'opt': [2, 8, 4], 'max': [8, 32, 4]}}
    """
    batch, max_batch, max_boxes = check_sizes(batch, max_batch, max_boxes)
    sizes = {BATCH: (1, batch, max_batch), BOXES: (1, min(OPT_BOXES, max_boxes), max_boxes)}
    profile = {}
    for spec in inputs:
        shapes = [
            [d if isinstance(d, int) else sizes[d][k] for d in spec["shape"]] for k in range(3)
        ]
        profile[spec["name"]] = dict(zip(("min", "opt", "max"), shapes))
    return profile


def configure_tensorrt(
    trt: Any,
    builder: Any,
    profile: Mapping[str, Mapping[str, Sequence[int]]],
    fp16: bool,
    workspace_gb: float = 4.0,
) -> Any:
    """A TensorRT builder config with ``profile`` (and the FP16 flag); ``trt`` is the module."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    optimisation = builder.create_optimization_profile()
    for name, shapes in profile.items():
        optimisation.set_shape(
            name, tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"])
        )
    config.add_optimization_profile(optimisation)
    return config


def build_tensorrt_engine(
    onnx_path: Path, plan_path: Path, profile: Mapping[str, Any], fp16: bool
) -> None:
    """Builds and writes a serialised engine (needs ``tensorrt`` and a CUDA GPU)."""
    import tensorrt as trt

    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    plan = builder.build_serialized_network(
        network, configure_tensorrt(trt, builder, profile, fp16)
    )
    if plan is None:
        raise RuntimeError(f"TensorRT could not build an engine for {onnx_path.name} (see its log)")
    plan_path.write_bytes(bytes(plan))


def write_engines(
    manifest: dict[str, Any], folder: Path, batch: int, max_batch: int, max_boxes: int, fp16: bool
) -> None:
    import tensorrt as trt

    for entry in [manifest["backbone"], *manifest["heads"].values()]:
        profile = tensorrt_profile(entry["inputs"], batch, max_batch, max_boxes)
        plan = folder / entry["file"].replace(".onnx", ".plan")
        logger.info("building TensorRT engine %s (fp16=%s)", plan.name, fp16)
        build_tensorrt_engine(folder / entry["file"], plan, profile, fp16)
        info = {
            "file": plan.name,
            "sha256": sha256_file(plan),
            "profile": profile,
            "fp16": fp16,
            "tensorrt_version": trt.__version__,
        }
        meta = {k: v for k, v in entry.items() if k not in ("variants", "tensorrt")}
        side = {
            "record": manifest["record"],
            "weights_sha256": manifest["weights_sha256"],
            "clip": manifest["clip"],
            **meta,
            "tensorrt": info,
        }
        (folder / f"{plan.name}.json").write_text(json.dumps(side, indent=2), encoding="utf-8")
        entry["tensorrt"] = {**info, "metadata": f"{plan.name}.json"}
