"""``cofin demo``: serve the Gradio demo page for a model.

Examples::

    cofin demo --model cofin_quickstart/run/final
    cofin demo --model user/cofin-vivit-b --host 0.0.0.0 --port 7860

Imports nothing heavy at module level (``cofin --help`` stays fast): gradio and torch
load when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "run_demo"]

_BACKENDS = ("torch", "onnx", "triton")  # demo.app.BACKENDS, without importing gradio


def register(subparsers: Any) -> None:
    """Adds ``cofin demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="serve the Gradio demo (annotated video, detections, top-5, timeline)",
        description="Serve a web page: upload a video, get the annotated video, the "
        "detections table (CSV/JSON), the top-5 per classification head and an action "
        "timeline.",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="folder written by save_pretrained, or a Hugging Face Hub repo id",
    )
    parser.add_argument("--revision", help="Hub branch, tag or commit of a repo id")
    parser.add_argument("--cache-dir", type=Path, help="Hub cache folder for a repo id")
    parser.add_argument(
        "--backend",
        choices=_BACKENDS,
        default="torch",
        help="inference backend (default: torch; triton needs --url)",
    )
    parser.add_argument(
        "--url",
        help="Triton server for --backend triton, grpc://HOST:PORT or http://HOST:PORT "
        "(its cofin ensemble serves; --model then only names it on the page)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: the first free from 7860)")
    parser.add_argument(
        "--examples-dir",
        type=Path,
        help="where the synthetic example clips are generated on first start "
        "(default: $COFIN_DEMO_EXAMPLES or ~/.cache/cofin/demo-examples)",
    )
    parser.add_argument(
        "--no-examples", action="store_true", help="no example clips (nothing generated)"
    )
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Runs ``cofin demo`` until Ctrl-C; arguments are checked before the model loads."""
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if (args.url is not None) != (args.backend == "triton"):
        raise ValueError(
            "--url is only for --backend triton"
            if args.url is not None
            else "--backend triton needs --url grpc://HOST:PORT of the Triton server"
        )
    if args.backend == "torch":
        from cofin_sdk.backends import check_device

        check_device(args.device, "--device")
    from demo.app import CofinDemo, load_detector
    from demo.examples import ensure_examples

    detector = load_detector(
        args.model,
        args.backend,
        args.url,
        args.device,
        revision=args.revision,
        cache_dir=args.cache_dir,
    )
    examples = None if args.no_examples else ensure_examples(args.examples_dir)
    CofinDemo(detector, model_name=str(args.model), examples=examples).serve(args.host, args.port)
    return 0
