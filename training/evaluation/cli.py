"""``cofin eval-ava`` (official AVA frame-mAP on CSV files) and ``cofin eval`` (model runner)."""

from __future__ import annotations

import argparse

__all__ = ["register_eval_ava", "register_eval", "format_table"]


def register_eval_ava(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``cofin eval-ava``."""
    parser = subparsers.add_parser(
        "eval-ava",
        help="AVA frame-mAP@0.5IOU of a detections CSV (official ActivityNet protocol)",
        description="Evaluate AVA-format detections exactly as the official ActivityNet tool.",
    )
    parser.add_argument("--groundtruth", required=True, help="ground-truth CSV (ava_val_v2.2.csv)")
    parser.add_argument("--detections", required=True, help="detections CSV (8 columns)")
    parser.add_argument(
        "--labelmap", required=True, help="label map of the evaluated classes (.pbtxt)"
    )
    parser.add_argument("--exclusions", help="excluded timestamps CSV (2019 mode)")
    parser.add_argument("--train-labels", help="training ground-truth CSV for head/mid/tail counts")
    parser.add_argument(
        "--head-threshold", type=int, default=10_000, help="head: more labels than this"
    )
    parser.add_argument(
        "--tail-threshold", type=int, default=1_000, help="tail: fewer labels than this"
    )
    parser.add_argument("--mode", choices=["2019", "2020"], default="2019", help="protocol version")
    parser.add_argument(
        "--exact-floats",
        action="store_true",
        help="parse numbers longer than 12 digits exactly like Python float() (slower)",
    )
    parser.add_argument("--json", help="write the metrics JSON here")
    parser.add_argument("--plot", help="write a per-class AP bar chart (PNG) here")
    parser.set_defaults(func=run_eval_ava)


def run_eval_ava(args: argparse.Namespace) -> int:
    """Runs ``cofin eval-ava``; prints the mAP line and the per-class table."""
    from pathlib import Path

    from cofin_sdk.io.paths import check_output_path

    from .ava import evaluate_ava_files

    for flag, value, suffixes in (("--json", args.json, ()), ("--plot", args.plot, (".png",))):
        if value is not None:
            check_output_path(Path(value), flag, suffixes)
    result = evaluate_ava_files(
        args.groundtruth,
        args.detections,
        args.labelmap,
        exclusions=args.exclusions,
        mode=args.mode,
        train_labels=args.train_labels,
        head_threshold=args.head_threshold,
        tail_threshold=args.tail_threshold,
        exact_floats=args.exact_floats,
    )
    print(format_table(result))
    print(f"mAP@0.5IOU = {result.mAP:.6f}")
    for group, value in result.group_mAP.items():
        print(f"{group} mAP = {value:.6f}")
    if args.json:
        result.to_json(args.json)
    if args.plot:
        from .plots import plot_per_class_ap

        plot_per_class_ap(result, args.plot)
    return 0


def format_table(result) -> str:  # noqa: ANN001 (an AvaResult; imported lazily)
    """Per-class table: id, name, group, training count, #GT, #detections, AP."""
    lines = [f"{'id':>3}  {'class':<40} {'group':<5} {'train':>7} {'#gt':>6} {'#det':>8}  AP"]
    for cid, name, group, count, n_gt, n_det, ap in zip(
        result.class_ids,
        result.class_names,
        result.groups,
        result.train_counts,
        result.num_groundtruth,
        result.num_detections,
        result.ap,
    ):
        count_text = str(count) if count >= 0 else "-"
        ap_text = "n/a (no GT)" if ap != ap else f"{ap:.4f}"
        lines.append(
            f"{cid:>3}  {name[:40]:<40} {group or '-':<5} {count_text:>7} {n_gt:>6} {n_det:>8}  {ap_text}"
        )
    return "\n".join(lines)


def register_eval(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``cofin eval`` (runs a model over the validation sets via the evaluation runner)."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint on the validation sets (AVA mAP, clip top-1/top-5)",
        description="Run a trained model over the validation sets and write detections, metrics and plots.",
    )
    parser.add_argument(
        "checkpoint",
        help="save_pretrained folder, Hugging Face Hub repo id (org/name), run directory, or "
        "checkpoints/step_*.pt file",
    )
    parser.add_argument(
        "config",
        nargs="?",
        default=None,
        help="training config (preset name or path); default: the config saved with the model",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda (torch; onnx: picks the providers)"
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx", "triton"],
        default="torch",
        help="run the model with torch, onnxruntime (the model's onnx/ export, else a "
        "temporary one) or a Triton server (--url)",
    )
    parser.add_argument(
        "--url", help="Triton server of --backend triton: grpc://HOST:PORT or http://HOST:PORT"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="--backend onnx: the int8 graphs (dynamic quantisation, CPU)",
    )
    parser.add_argument(
        "--keyframe",
        choices=["centre", "causal"],
        help="keyframe placement of the AVA clips: centre (clip centred on the keyframe) or "
        "causal (clip ends at it, as a live stream sees it); default: the model's training config",
    )
    parser.add_argument(
        "--max-batches", type=int, default=None, help="evaluate only this many batches"
    )
    parser.add_argument(
        "--track",
        action="store_true",
        help="also track the detection boxes: IDF1/HOTA against the AVA person ids and "
        "timeline segment precision/recall, next to frame-mAP",
    )
    parser.add_argument(
        "--compare",
        metavar="EVAL_DIR",
        help="another run's eval folder: also plot per-class AP (this run - that run), paper Fig. 1",
    )
    parser.add_argument(
        "--revision", help="Hub branch, tag or commit of a repo id CHECKPOINT (default main)"
    )
    parser.add_argument("--cache-dir", help="Hugging Face Hub cache folder (default: HF_HUB_CACHE)")
    parser.add_argument(
        "--out",
        help="output directory (default: next to the checkpoint; for a repo id "
        "./eval/<org>--<name>)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override",
    )
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Runs ``cofin eval`` through :func:`training.evaluation.runner.main`."""
    from .runner import main

    return int(main(args) or 0)
