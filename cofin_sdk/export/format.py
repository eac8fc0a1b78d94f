"""The export folder format (torch-free): names, opset range, argument checks and the
``cofin_export.json`` reader shared by :mod:`cofin_sdk.export` (which re-exports them), the
ONNX backend and the TensorRT builder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cofin_sdk.models.record import ModelRecord

__all__ = [
    "BATCH",
    "BOXES",
    "DEFAULT_OPSET",
    "EXPORT_FILE",
    "EXPORT_VERSION",
    "FORMATS",
    "FUSED_ATTENTION_OPSET",
    "INT8",
    "MAX_OPSET",
    "META_GRAPH",
    "META_RECORD",
    "MIN_OPSET",
    "OPT_BOXES",
    "check_clip",
    "check_heads",
    "check_opset",
    "check_out_dir",
    "check_sizes",
    "read_export",
    "sha256_file",
    "weights_sha256",
]

EXPORT_FILE = "cofin_export.json"
EXPORT_VERSION = 1
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 18, 21, 20
#: The backbone's opset with ``fused_attention`` (it has no RoiAlign, so the 18..21 limit of the
#: heads does not apply): from opset 23 the exporter writes each scaled_dot_product_attention
#: as one ONNX ``Attention`` node, which onnxruntime runs as one fused kernel.
FUSED_ATTENTION_OPSET = 23
FORMATS = ("onnx", "tensorrt")
BATCH, BOXES = "batch", "num_boxes"  # the dynamic dimensions' names in every graph
META_RECORD, META_GRAPH = "cofin_record", "cofin_graph"  # metadata_props keys
#: onnxruntime ``quantize_dynamic`` settings of the ``*.int8.onnx`` graphs (recorded in
#: ``cofin_export.json``). ``reduce_range``: 7-bit weights, so that u8 x s8 products summed in
#: pairs fit int16: CPUs without VNNI (AVX2, AVX-512 without VNNI) multiply with
#: ``vpmaddubsw``, which saturates with full 8-bit weights (measured on an AVX2 CPU: small
#: ViViTs' features 3x further from fp32). The cost is one bit of weight precision (on
#: random-weight ViViT-B, where saturation is rare, features 1.3x further; benchmarks/README.md).
INT8 = {
    "weight_type": "QInt8",
    "per_channel": True,
    "reduce_range": True,
    "op_types": ["MatMul", "Gemm"],
}
OPT_BOXES = 8  # TensorRT's opt box count: the first padding bucket of DESIGN.md


# --------------------------------------------------------------------------- checks
def check_opset(opset: Any, flag: str = "opset=") -> int:
    """``opset`` if ``RoiAlign(aligned)`` is right and runs in onnxruntime there (18..21).

    Raises:
        ValueError: Outside 18..21, saying why.
    """
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(f"{flag}{opset!r}: must be an int in {MIN_OPSET}..{MAX_OPSET}")
    if opset < MIN_OPSET:
        why = (
            "RoiAlign(aligned=True) needs opset >= 16 (below, the legacy exporter gives wrong "
            "numbers) and the dynamo exporter implements opset >= 18 only (below, some graphs "
            "silently stay at 18)"
        )
    elif opset > MAX_OPSET:
        why = "onnxruntime 1.32 cannot run RoiAlign at opsets 22-23"
    else:
        return opset
    raise ValueError(
        f"{flag}{opset} is refused: {why}; use {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})"
    )


def check_heads(
    record: ModelRecord, heads: Sequence[str] | None, flag: str = "heads="
) -> list[str]:
    """The heads to export: ``heads`` (in the record's order) or all of them.

    Raises:
        ValueError: An unknown name (the record's heads are listed) or an empty list.
    """
    listed = ", ".join(f"{name} ({spec.task})" for name, spec in record.heads.items())
    if heads is None:
        return list(record.heads)
    if isinstance(heads, str):
        heads = [heads]
    names = [part for head in heads for part in str(head).split(",") if part]
    if not names:
        raise ValueError(f"{flag}: give at least one head; the model has {listed}")
    for name in names:
        if name not in record.heads:
            raise ValueError(f"{flag}{name!r}: no such head; the model has {listed}")
    return [name for name in record.heads if name in names]


def check_clip(
    record: ModelRecord,
    num_frames: int | None = None,
    image_size: int | None = None,
    flags: tuple[str, str] = ("num_frames=", "image_size="),
) -> None:
    """Refuses a clip shape the record does not hold (the graphs' clip shape is fixed).

    Raises:
        ValueError: Naming the flag, the record's shape and why.
    """
    prep = record.preprocessing
    for flag, value, ours in zip(
        flags, (num_frames, image_size), (prep.num_frames, prep.image_size)
    ):
        if value is not None and value != ours:
            raise ValueError(
                f"{flag}{value}: the exported graphs have a fixed clip shape, the model record's "
                f"{prep.num_frames} frames x {prep.image_size}x{prep.image_size} px; export with "
                "that shape (or leave it out)"
            )


def check_out_dir(out: str | os.PathLike, flag: str = "out_dir=") -> Path:
    """``out`` may receive an export: new, empty, or an earlier export (replaced).

    Raises:
        ValueError: A file, a non-empty folder that holds no cofin export (its files would be
            mixed with ours), or a place that cannot be written.
    """
    from cofin_sdk.io.paths import check_output_folder

    path = Path(out)
    label = f"{flag}{path}" if flag.endswith("=") else f"{flag} {path}"  # key= or --flag
    if path.exists() and not path.is_dir():
        raise ValueError(f"{label} is a file; give a folder for the export")
    if path.is_dir() and any(path.iterdir()) and not (path / EXPORT_FILE).is_file():
        raise ValueError(
            f"{label} is a non-empty folder that holds no cofin export (no {EXPORT_FILE}); "
            "choose a new or empty folder"
        )
    check_output_folder(path, flag)
    return path


def check_sizes(batch: Any, max_batch: Any, max_boxes: Any) -> tuple[int, int, int]:
    for name, value in (("batch", batch), ("max_batch", max_batch), ("max_boxes", max_boxes)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name}={value!r}: must be an int >= 1")
    max_batch = max(batch, 8) if max_batch is None else max_batch
    if batch > max_batch:
        raise ValueError(f"batch={batch} is larger than max_batch={max_batch}")
    return batch, max_batch, max_boxes


# --------------------------------------------------------------------------- files
def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_sha256(model: Any) -> str:
    """sha256 of a model's weights as ``save_pretrained`` writes them (``model.safetensors``
    bytes), so exporting a folder or the model loaded from it records the same hash."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return hashlib.sha256(save(state, metadata={"format": "pt"})).hexdigest()


def read_export(export_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``cofin_export.json`` of an export folder, with its structure checked.

    Raises:
        FileNotFoundError: No such folder, or no ``cofin_export.json`` in it.
        ValueError: Invalid JSON, another export version, or a missing field (named).
    """
    folder = Path(export_dir)
    file = folder / EXPORT_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"export folder not found: {folder}")
    if not file.is_file():
        raise FileNotFoundError(
            f"{folder} has no {EXPORT_FILE}: not a folder written by cofin export"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("export_version") != EXPORT_VERSION:
        got = manifest.get("export_version") if isinstance(manifest, dict) else manifest
        raise ValueError(
            f"{file}: unsupported export_version {got!r} (this cofin reads {EXPORT_VERSION})"
        )
    for key in ("record", "clip", "backbone", "heads", "weights_sha256", "files"):
        if key not in manifest:
            raise ValueError(f"{file}: missing field {key!r}")
    for role, entry in [("backbone", manifest["backbone"]), *manifest["heads"].items()]:
        if not isinstance(entry, dict) or not {"file", "sha256", "inputs", "outputs"} <= set(entry):
            raise ValueError(f"{file}: graph {role!r} needs file, sha256, inputs and outputs")
    return manifest
