"""``cofin export``: ONNX graphs (and TensorRT engines) of a model's inference graph.

Examples::

    cofin export runs/quickstart/model --out runs/quickstart/model/onnx
    cofin export user/cofin-vivit-b --out exported --heads ava kinetics --int8-dynamic
    cofin export runs/quickstart/model --out engines --format tensorrt --fp16 --max-batch 16

Every argument is checked before torch is imported or anything is written.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["register"]

HELP = "export ONNX graphs (backbone + one per head) or TensorRT engines of a model"


def register(subparsers: Any) -> None:
    """Adds ``cofin export``."""
    from cofin_sdk.export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

    parser = subparsers.add_parser(
        "export",
        help=HELP,
        description=(
            "Write backbone.onnx, head_<name>.onnx per head and cofin_export.json (every graph "
            "carries the model record). Dynamic batch and box count; the clip shape is the "
            "model's own (fixed)."
        ),
    )
    parser.add_argument("model", help="folder written by save_pretrained, or a Hub repo id")
    parser.add_argument(
        "--out", required=True, type=Path, help="new or empty folder, or an earlier export"
    )
    parser.add_argument("--format", default="onnx", help="onnx (default) or tensorrt")
    parser.add_argument("--heads", nargs="+", help="heads to export (default: all)")
    parser.add_argument(
        "--batch", type=int, default=1, help="batch to optimise for (TensorRT opt profile)"
    )
    parser.add_argument("--max-batch", type=int, help="TensorRT: largest batch (default 8)")
    parser.add_argument(
        "--max-boxes", type=int, default=32, help="TensorRT: most boxes per clip (default 32)"
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})",
    )
    parser.add_argument(
        "--no-fused-attention",
        dest="fused_attention",
        action="store_false",
        help="export the backbone at --opset too (default: opset 23, one fused Attention node "
        "per attention; needs onnxruntime >= 1.23)",
    )
    parser.add_argument(
        "--fp16",
        action="store_true",
        help="also write *.fp16.onnx (for GPUs); with tensorrt: fp16 engines",
    )
    parser.add_argument(
        "--int8-dynamic",
        action="store_true",
        help="also write *.int8.onnx: dynamic int8 MatMul/Gemm weights (for CPUs)",
    )
    parser.add_argument("--num-frames", type=int, help="refused unless it is the model's")
    parser.add_argument("--image-size", type=int, help="refused unless it is the model's")
    parser.add_argument("--revision", help="Hub revision of a repo id")
    parser.add_argument("--cache-dir", help="Hub cache folder for a repo id")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    """Every check that needs no weights, in CLI words (light: no torch unless tensorrt)."""
    from cofin_sdk.export import FORMATS, check_clip, check_heads, check_opset, check_out_dir
    from cofin_sdk.models.record import read_model_record

    if args.format not in FORMATS:
        raise ValueError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    check_opset(args.opset, "--opset ")
    for flag, value in (("--batch", args.batch), ("--max-batch", args.max_batch)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if args.max_boxes < 1:
        raise ValueError(f"--max-boxes must be >= 1, got {args.max_boxes}")
    if args.max_batch is not None and args.batch > args.max_batch:
        raise ValueError(f"--batch {args.batch} is larger than --max-batch {args.max_batch}")
    check_out_dir(args.out, "--out")
    if args.format == "tensorrt" and args.int8_dynamic:
        raise ValueError(
            "--int8-dynamic is for onnxruntime on CPUs; drop it with --format tensorrt"
        )
    if Path(args.model).is_dir():  # a repo id (or a missing folder) is checked by export()
        record = read_model_record(args.model)
        check_heads(record, args.heads, "--heads ")
        check_clip(record, args.num_frames, args.image_size, ("--num-frames ", "--image-size "))
    if args.format == "tensorrt":
        from cofin_sdk.export import check_tensorrt

        check_tensorrt("--format ")


def run(args: argparse.Namespace) -> int:
    """Checks the arguments, exports, prints what was written."""
    _check_args(args)
    from cofin_sdk.export import EXPORT_FILE, export, read_export

    out = export(
        args.model,
        args.out,
        format=args.format,
        heads=args.heads,
        batch=args.batch,
        max_batch=args.max_batch,
        max_boxes=args.max_boxes,
        opset=args.opset,
        fused_attention=args.fused_attention,
        fp16=args.fp16,
        int8_dynamic=args.int8_dynamic,
        num_frames=args.num_frames,
        image_size=args.image_size,
        revision=args.revision,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
    )
    manifest = read_export(out)
    clip = manifest["clip"]
    for entry in [manifest["backbone"], *manifest["heads"].values()]:
        files = [entry["file"], *(v["file"] for v in entry["variants"].values())]
        if "tensorrt" in entry:
            files.append(entry["tensorrt"]["file"])
        print(f"  {', '.join(files)}  (max |onnx - torch| {entry['max_abs_diff']:.1e})")
    print(
        f"wrote {len(manifest['heads']) + 1} graphs and {EXPORT_FILE} to {out} (clip fixed at "
        f"{clip['num_frames']} frames x {clip['image_size']}x{clip['image_size']}, opset "
        f"{manifest['opset']}); run them with Detector.from_export({str(out)!r})"
    )
    return 0
