"""Export: the inference graph as ONNX graphs and TensorRT engines, and their folder format.

Owns: :mod:`.onnx` (:func:`export`), :mod:`.format` (the torch-free ``cofin_export.json``
format, names and argument checks) and :mod:`.tensorrt` (engine builds).

May import: :mod:`cofin_sdk.models` and everything below it; never backends, the Hub or
the CLI (the ONNX backend and ``push_to_hub`` call export, not the reverse).
``from cofin_sdk.export import X`` works for every X of the old ``export.py`` module.
"""

from __future__ import annotations

from cofin_sdk._lazy import lazy_attributes

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
# Every name the old ``cofin_sdk.export`` module had, served from :mod:`.onnx` (which
# imports the format and TensorRT names it uses): ``from cofin_sdk.export import X`` works
# for every X it did, and patching ``cofin_sdk.export.export`` still reaches its callers.
_OLD_MODULE_NAMES = [
    *__all__,
    *["BATCH", "BOXES", "EXPORT_VERSION", "FORMATS", "INT8", "META_GRAPH", "META_RECORD"],
    *["ModelRecord", "WEIGHTS_NAME", "check_sizes", "write_engines"],
]

__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(_OLD_MODULE_NAMES, "onnx"))
