"""Export: the inference graph (DESIGN.md, "Inference graph") as ONNX graphs and TensorRT engines.

``export(model, out_dir)`` writes one graph per half of the split::

    backbone.onnx         frames uint8 [batch, T, S, S, 3]  ->  features float32 [batch, D, h, w]
    head_<name>.onnx      features (+ boxes float32 [batch, num_boxes, 4])  ->  scores
    cofin_export.json     what every graph is: record, clip shape, I/O, sha256 of each file

``batch`` and ``num_boxes`` are dynamic; the clip shape ``T x S x S`` is FIXED to the model
record's ``num_frames`` and ``image_size`` (the torch model resamples position embeddings
for other sizes, the graphs do not), and another shape is refused at export and at run
time. Every graph's ``metadata_props`` holds ``cofin_record`` (the full
:class:`~cofin_sdk.models.record.ModelRecord` JSON: heads with class names and ids,
preprocessing) and ``cofin_graph`` (role, I/O names/dtypes/shapes, clip shape, cofin
version, sha256 of the source weights), so a backend rebuilds a Detector from a graph alone.

Opsets: only 18..21 are accepted. ``roi_align(aligned=True)`` needs ``RoiAlign``-16
(older opsets have no ``coordinate_transformation_mode``; the legacy exporter then gives
wrong numbers with only a warning); the dynamo exporter used here implements opset 18 and
up, and below that silently keeps some graphs at 18 (measured: asking for 16 gives a
backbone at 18 and heads at 16); onnxruntime 1.32 has no ``RoiAlign`` kernel for opsets
22-23. The backbone has no ``RoiAlign``: with ``fused_attention`` (default, ONNX format) it is
exported at opset 23, where every attention is one ONNX ``Attention`` node that onnxruntime
runs as one kernel (measured 1.3-1.4x faster than opset 20's MatMul/Softmax/MatMul chain,
same numbers to 2e-6; benchmarks/README.md, "Export inference").

Variants written beside the fp32 graphs (recorded in ``cofin_export.json``):

* ``int8_dynamic``: ``*.int8.onnx``, onnxruntime dynamic quantisation of the MatMul/Gemm
  weights (signed, per output channel, 7-bit so that CPUs without VNNI do not saturate:
  :data:`~cofin_sdk.export.format.INT8`; activations quantised at run time). For CPUs.
* ``fp16``: ``*.fp16.onnx``, float16 weights and compute with float32/uint8 inputs and
  outputs (onnxruntime's own float16 converter; ``RoiAlign`` and ``Range`` stay float32).
  Meant for GPUs (onnxruntime-gpu CUDA, TensorRT); it loads and runs on CPU too, but the
  CPU provider gains nothing from it. With ``format="tensorrt"``, ``fp16`` is TensorRT's
  builder flag instead.

TensorRT (``format="tensorrt"``) builds ``<graph>.plan`` from each ONNX graph with one
optimisation profile (``batch``: 1 / ``batch`` / ``max_batch``; ``num_boxes``: 1 /
``min(8, max_boxes)`` / ``max_boxes``) and writes ``<graph>.plan.json`` beside it. It needs
the ``tensorrt`` package and a CUDA GPU and stops at once, naming what is missing.

Example:
    >>> from cofin_sdk import create_model
    >>> from cofin_sdk.export import export
    >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
    ...     num_frames=4, image_size=32, heads={"k400": {"task": "classification",
    ...     "num_classes": 3}})
    >>> out = export(model, "exported", progress=False)  # doctest: +SKIP
    >>> sorted(p.name for p in out.iterdir())  # doctest: +SKIP
    ['backbone.onnx', 'cofin_export.json', 'head_k400.onnx']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
import types
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cofin_sdk.export.format import (
    BATCH,
    BOXES,
    DEFAULT_OPSET,
    EXPORT_FILE,
    EXPORT_VERSION,
    FORMATS,
    FUSED_ATTENTION_OPSET,
    INT8,
    MAX_OPSET,
    META_GRAPH,
    META_RECORD,
    MIN_OPSET,
    check_clip,
    check_heads,
    check_opset,
    check_out_dir,
    check_sizes,
    read_export,
    sha256_file,
    weights_sha256,
)
from cofin_sdk.export.tensorrt import (
    check_tensorrt,
    configure_tensorrt,
    tensorrt_profile,
    write_engines,
)
from cofin_sdk.models.record import WEIGHTS_NAME, ModelRecord, _version

__all__ = [
    "DEFAULT_OPSET",
    "EXPORT_FILE",
    "MAX_OPSET",
    "MIN_OPSET",
    "check_clip",
    "check_heads",
    "check_opset",
    "check_out_dir",
    "check_tensorrt",
    "configure_tensorrt",
    "export",
    "graph_io",
    "quantize_int8",
    "read_export",
    "sha256_file",
    "tensorrt_profile",
    "weights_sha256",
]

logger = logging.getLogger(__name__)

_STAGING = ".cofin_export.partial"


# --------------------------------------------------------------------------- graph specs
def _io(name: str, dtype: str, shape: list[int | str]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def _graph_specs(record: ModelRecord, heads: list[str]) -> dict[str, dict[str, Any]]:
    """``{graph_name: {role, head, inputs, outputs}}``: the tensor contract of each graph."""
    cfg, T, S = record.config, record.preprocessing.num_frames, record.preprocessing.image_size
    features = _io(
        "features",
        "float32",
        [BATCH, cfg.embed_dim, S // cfg.tubelet_size[1], S // cfg.tubelet_size[2]],
    )
    specs = {
        "backbone": {
            "role": "backbone",
            "head": None,
            "inputs": [_io("frames", "uint8", [BATCH, T, S, S, 3])],
            "outputs": [features],
        }
    }
    for name in heads:
        spec = record.heads[name]
        detection = spec.task == "detection"
        inputs = [features, _io("boxes", "float32", [BATCH, BOXES, 4])] if detection else [features]
        shape = [BATCH, BOXES, spec.num_classes] if detection else [BATCH, spec.num_classes]
        specs[f"head_{name}"] = {
            "role": "head",
            "head": name,
            "task": spec.task,
            "inputs": inputs,
            "outputs": [_io("scores", "float32", shape)],
        }
    return specs


def graph_io(model: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs of an ONNX ``ModelProto`` as ``[{name, dtype, shape}]``."""
    from onnx.helper import tensor_dtype_to_np_dtype

    def describe(values: Any) -> list[dict[str, Any]]:
        out = []
        for value in values:
            tensor = value.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
            out.append(_io(value.name, tensor_dtype_to_np_dtype(tensor.elem_type).name, dims))
        return out

    return describe(model.graph.input), describe(model.graph.output)


def _set_metadata(model: Any, record_json: str, graph_meta: dict[str, Any]) -> None:
    keep = [
        (p.key, p.value) for p in model.metadata_props if p.key not in (META_RECORD, META_GRAPH)
    ]
    del model.metadata_props[:]
    for key, value in [*keep, (META_RECORD, record_json), (META_GRAPH, json.dumps(graph_meta))]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _toposort(graph: Any) -> None:
    """Puts nodes in topological order (the float16 converter appends its casts at the end)."""
    known = {v.name for v in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise RuntimeError("float16 conversion left a graph with a cycle or a dangling input")
        for node in ready:
            known.update(node.output)
        ordered += ready
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


# --------------------------------------------------------------------------- torch -> onnx
def _modules() -> tuple[type, type]:
    """Tiny wrappers that give ``features`` and each ``head`` a ``forward`` to export."""
    from torch import nn

    class Backbone(nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, frames: Any) -> Any:  # uint8 (B, T, S, S, 3) -> (B, D, h, w)
            return self.model.features(frames)

    class Head(nn.Module):
        def __init__(self, model: Any, name: str) -> None:
            super().__init__()
            self.model, self.name = model, name

        def forward(self, features: Any, boxes: Any = None) -> Any:  # -> (B, C) | (B, N, C)
            return self.model.head(self.name, features, boxes)

    return Backbone, Head


def _example_inputs(record: ModelRecord, batch: int, boxes: int, seed: int) -> dict[str, Any]:
    """Random uint8 clips and valid boxes; traced with B, N >= 2 (torch.export specialises 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    T, S = record.preprocessing.num_frames, record.preprocessing.image_size
    xy = rng.uniform(0, S * 0.6, (batch, boxes, 2))
    wh = rng.uniform(1, S * 0.4, (batch, boxes, 2))
    return {
        "frames": rng.integers(0, 256, (batch, T, S, S, 3), dtype=np.uint8),
        "boxes": np.concatenate([xy, xy + wh], -1).astype(np.float32),
    }


def _to_onnx(model: Any, spec: dict[str, Any], example: dict[str, Any], opset: int) -> Any:
    """One graph as an ONNX ``ModelProto`` (dynamo exporter, dynamic batch and box count)."""
    import torch

    Backbone, Head = _modules()
    module = (Backbone(model) if spec["role"] == "backbone" else Head(model, spec["head"])).eval()
    names = [i["name"] for i in spec["inputs"]]
    args = tuple(torch.from_numpy(example[n]) for n in names)
    batch, boxes = torch.export.Dim(BATCH, min=1), torch.export.Dim(BOXES, min=1)
    dims = {"frames": {0: batch}, "features": {0: batch}, "boxes": {0: batch, 1: boxes}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name.*")  # batch shared by 2 inputs
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=opset,
            input_names=names,
            output_names=[o["name"] for o in spec["outputs"]],
            dynamic_shapes={n: dims[n] for n in names},
            verbose=False,
        )
    proto = program.model_proto
    if graph_io(proto) != (spec["inputs"], spec["outputs"]):  # the contract, not a user error
        raise RuntimeError(f"exported {spec['role']} has I/O {graph_io(proto)}, expected {spec}")
    return proto


def _torch_outputs(model: Any, spec: dict[str, Any], feeds: dict[str, Any]) -> Any:
    import torch

    with torch.inference_mode():
        if spec["role"] == "backbone":
            return model.features(torch.from_numpy(feeds["frames"])).numpy()
        boxes = torch.from_numpy(feeds["boxes"]) if "boxes" in feeds else None
        return model.head(spec["head"], torch.from_numpy(feeds["features"]), boxes).numpy()


def _max_abs_diff(path: Path, spec: dict[str, Any], feeds: dict[str, Any], expected: Any) -> float:
    """Runs a written graph in onnxruntime (CPU) on a check input; max |onnx - torch|."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i["name"]: feeds[i["name"]] for i in spec["inputs"]})[0]
    return float(np.abs(got.astype(np.float64) - expected).max())


@contextlib.contextmanager
def _quiet_exporters() -> Any:
    """The exporter, optimiser and quantizer log dozens of INFO/WARNING lines per graph."""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(max(log.getEffectiveLevel(), logging.ERROR))
    root = logging.getLogger()

    def drop_root_records(record: logging.LogRecord) -> bool:  # quantize_dynamic's hint
        return record.name != "root"

    root.addFilter(drop_root_records)
    try:
        yield
    finally:
        root.removeFilter(drop_root_records)
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def quantize_int8(src: Path, dst: Path, scheme: dict[str, Any] = INT8) -> None:
    """Writes ``dst``: ``src`` with dynamic int8 MatMul/Gemm weights (:data:`INT8` settings)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        src,
        dst,
        op_types_to_quantize=scheme["op_types"],
        per_channel=scheme["per_channel"],
        reduce_range=scheme["reduce_range"],
        weight_type=QuantType[scheme["weight_type"]],
    )


def _to_fp16(proto: Any) -> Any:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(proto, keep_io_types=True)
    _toposort(half.graph)
    del half.graph.value_info[:]  # stale float32 types around the blocked ops; re-inferred at load
    return half


# --------------------------------------------------------------------------- export
def _load(
    model_or_path: Any, revision: str | None, cache_dir: str | os.PathLike | None
) -> tuple[Any, ModelRecord, str, str]:
    """``(model, record, weights_sha256, weights_source)`` of a model or a saved folder/repo."""
    if isinstance(model_or_path, (str, os.PathLike)):
        from cofin_sdk.models import from_pretrained
        from cofin_sdk.models.hub import resolve_pretrained_dir
        from cofin_sdk.models.record import read_model_record

        folder = resolve_pretrained_dir(model_or_path, revision, cache_dir)
        record = read_model_record(folder)
        model = from_pretrained(folder)
        return model, record, sha256_file(folder / WEIGHTS_NAME), WEIGHTS_NAME
    if not hasattr(model_or_path, "features") or not hasattr(model_or_path, "config"):
        raise TypeError(
            f"export needs a cofin ViViT or a save_pretrained folder / Hub repo id, got "
            f"{type(model_or_path).__name__}"
        )
    model = model_or_path
    return model, ModelRecord.for_model(model), weights_sha256(model), "state_dict"


def export(
    model_or_path: Any,
    out_dir: str | os.PathLike,
    *,
    format: str = "onnx",
    heads: Sequence[str] | None = None,
    batch: int = 1,
    max_batch: int | None = None,
    max_boxes: int = 32,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    int8_dynamic: bool = False,
    fused_attention: bool = True,
    num_frames: int | None = None,
    image_size: int | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Writes the inference graph of a model as ONNX (and TensorRT) files (see the module).

    Args:
        model_or_path: A :class:`~cofin_sdk.models.ViViT`, a ``save_pretrained`` folder or a
            Hub repo id (local cache).
        out_dir: New or empty folder, or an earlier export (its files are replaced).
        format: ``"onnx"`` or ``"tensorrt"`` (ONNX graphs plus ``.plan`` engines).
        heads: Heads to export (default: all).
        batch: Batch size to optimise for (TensorRT's opt profile; ONNX batch is dynamic).
        max_batch: TensorRT's largest batch (default ``max(batch, 8)``).
        max_boxes: TensorRT's largest box count per clip.
        opset: ONNX opset, 18..21.
        fp16: Also write ``*.fp16.onnx`` (GPU-oriented); for TensorRT, build fp16 engines.
        int8_dynamic: Also write ``*.int8.onnx`` (dynamic int8 MatMul/Gemm weights; CPU).
        fused_attention: Export the backbone at opset 23 (``FUSED_ATTENTION_OPSET``), where
            attention is one ONNX ``Attention`` node that onnxruntime fuses (the heads stay
            at ``opset``). ONNX format only; off: the backbone at ``opset`` too.
        num_frames, image_size: Optional: the clip shape to export, refused unless it is the
            record's (the graphs' clip shape is fixed).
        revision: Hub revision for a repo id.
        cache_dir: Hub cache folder for a repo id.
        progress: Show a progress bar over the graphs.

    Returns:
        The export folder.

    Raises:
        ValueError: Refused opset, unknown head, clip shape or output folder, bad sizes.
        ImportError: ``format="tensorrt"`` without the tensorrt package (or onnx missing).
        FileNotFoundError: No such model folder / uncached repo.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}: choose one of {', '.join(FORMATS)}")
    check_opset(opset)
    batch, max_batch, max_boxes = check_sizes(batch, max_batch, max_boxes)
    if format == "tensorrt":
        if int8_dynamic:
            raise ValueError(
                "int8_dynamic is onnxruntime's CPU quantisation; TensorRT int8 (calibrated) is not supported"
            )
        check_tensorrt()
    out = check_out_dir(out_dir)
    _import_onnx()
    model, record, sha, source = _load(model_or_path, revision, cache_dir)
    names = check_heads(record, heads)
    check_clip(record, num_frames, image_size)
    prep = record.preprocessing
    clip = {
        "num_frames": prep.num_frames,
        "image_size": prep.image_size,
        "layout": "[batch, T, S, S, 3] uint8 RGB, letterboxed",
        "fixed": True,
    }
    common = {
        "export_version": EXPORT_VERSION,
        "cofin_version": _version(),
        "opset": opset,
        "backbone_opset": FUSED_ATTENTION_OPSET if fused_attention and format == "onnx" else opset,
        "clip": clip,
        "weights_sha256": sha,
        "weights_source": source,
    }
    variants = [v for v, on in (("int8", int8_dynamic), ("fp16", fp16 and format == "onnx")) if on]
    created = not out.exists()
    staging = out / _STAGING
    try:
        staging.mkdir(parents=True, exist_ok=True)
        with _quiet_exporters():
            manifest = _write_graphs(
                model.eval(), record, names, staging, common, variants, progress
            )
        if format == "tensorrt":
            write_engines(manifest, staging, batch, max_batch, max_boxes, fp16)
        manifest.update(
            common,
            format=format,
            dynamic_dims={
                BATCH: "dim 0 of every input and output",
                BOXES: "dim 1 of boxes and detection scores",
            },
            int8=INT8 if int8_dynamic else None,
            record=record.to_dict(),
        )
        _publish(manifest, staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    logger.info("exported %d graphs of %s to %s", 1 + len(names), record.architecture, out)
    return out


def _import_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f'export needs onnx, onnxruntime and onnxscript ({exc}); pip install "cofin-sdk[onnx]"'
        ) from None


def _write_graphs(
    model: Any,
    record: ModelRecord,
    heads: list[str],
    folder: Path,
    base_meta: dict[str, Any],
    variants: Sequence[str],
    progress: bool,
) -> dict[str, Any]:
    """Exports every graph into ``folder``; returns ``cofin_export.json``'s content."""
    import onnx
    from tqdm.auto import tqdm

    trace = _example_inputs(record, batch=2, boxes=3, seed=0)
    check = _example_inputs(record, batch=3, boxes=5, seed=1)  # parity on OTHER inputs
    for feeds in (trace, check):
        feeds["features"] = _torch_outputs(model, {"role": "backbone"}, feeds)
    record_json = json.dumps(record.to_dict())
    manifest: dict[str, Any] = {"heads": {}}
    specs = _graph_specs(record, heads)
    for graph, spec in tqdm(specs.items(), desc="export", unit="graph", disable=not progress):
        start = time.perf_counter()
        meta = {**base_meta, **spec, "precision": "fp32"}
        opset = base_meta["backbone_opset" if spec["role"] == "backbone" else "opset"]
        proto = _to_onnx(model, spec, trace, opset)
        path = _save(proto, folder / f"{graph}.onnx", record_json, meta)
        expected = _torch_outputs(model, spec, check)
        entry = {**spec, "file": path.name, "sha256": sha256_file(path), "variants": {}}
        for precision in variants:  # int8 quantises the written file, fp16 converts the proto
            dst = folder / f"{graph}.{precision}.onnx"
            if precision == "int8":
                quantize_int8(path, dst)
            variant = _to_fp16(proto) if precision == "fp16" else onnx.load(dst)
            _save(variant, dst, record_json, {**meta, "precision": precision})
            entry["variants"][precision] = {
                "file": dst.name,
                "sha256": sha256_file(dst),
                "precision": precision,
            }
        for item in [entry, *entry["variants"].values()]:
            item["max_abs_diff"] = _max_abs_diff(folder / item["file"], spec, check, expected)
        if spec["role"] == "backbone":
            manifest["backbone"] = entry
        else:
            manifest["heads"][spec["head"]] = entry
        diffs = ", ".join(
            f"{k} {v['max_abs_diff']:.1e}" for k, v in {"fp32": entry, **entry["variants"]}.items()
        )
        logger.info(
            "exported %s (%.1f MB, %.1f s; max |onnx - torch| on other inputs: %s)",
            path.name,
            path.stat().st_size / 1e6,
            time.perf_counter() - start,
            diffs,
        )
    return manifest


def _save(proto: Any, path: Path, record_json: str, meta: dict[str, Any]) -> Path:
    """Sets the graph's metadata, runs the full ONNX checker, writes it."""
    import onnx

    _set_metadata(proto, record_json, meta)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)
    return path


def _publish(manifest: dict[str, Any], staging: Path, out: Path) -> None:
    """Moves the staged files into ``out``, drops an earlier export's stale files, writes the
    JSON last. An export that fails before this leaves an earlier one whole; one cut off in
    here leaves graphs whose sha256 the old JSON does not match, which OnnxBackend refuses."""
    files = sorted(p.name for p in staging.iterdir())
    manifest["files"] = [*files, EXPORT_FILE]
    old = []
    if (out / EXPORT_FILE).is_file():
        with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
            old = [
                f
                for f in json.loads((out / EXPORT_FILE).read_text())["files"]
                if isinstance(f, str) and "/" not in f
            ]
    for name in files:
        os.replace(staging / name, out / name)
    for name in set(old) - set(manifest["files"]):
        with contextlib.suppress(OSError):
            (out / name).unlink()
    tmp = out / f".{EXPORT_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, out / EXPORT_FILE)
    staging.rmdir()


class _CallableModule(types.ModuleType):
    """Lets ``cofin_sdk.export(model, out_dir, ...)`` call :func:`export` (the module and
    the function share the name, and ``import cofin_sdk.export`` binds the module)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
