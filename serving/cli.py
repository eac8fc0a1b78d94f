"""``cofin serve build`` and ``cofin serve start``: a Triton repository, and a server on it.

Light at import (argparse only): the repository builder and the server load when run.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

HELP = "build a Triton model repository (serve build) and run tritonserver on it (serve start)"


def register(subparsers: Any) -> None:
    """Adds ``serve`` with its ``build`` and ``start`` sub-commands to ``cofin``."""
    parser = subparsers.add_parser(
        "serve",
        help=HELP,
        description="Serve a cofin model on NVIDIA Triton Inference Server.",
    )
    commands = parser.add_subparsers(dest="serve_command", metavar="{build,start}")
    commands.required = True
    _add_build(commands)
    _add_start(commands)


def _add_build(commands: Any) -> None:
    build = commands.add_parser(
        "build",
        help="write a Triton model repository (backbone, heads, ensemble 'cofin')",
        description=(
            "Write a Triton model repository: cofin_backbone, cofin_head_<name> per head and the "
            "ensemble 'cofin' (frames, boxes -> every head's scores from one backbone pass). "
            "A save_pretrained folder or Hub repo id is exported to ONNX first."
        ),
    )
    build.add_argument(
        "source",
        metavar="EXPORT_DIR_OR_MODEL",
        help="cofin export folder, model folder or Hub repo id",
    )
    build.add_argument(
        "--out", required=True, type=Path, metavar="REPO", help="repository folder to write"
    )
    build.add_argument(
        "--platform",
        choices=("onnxruntime", "tensorrt", "python"),
        default="onnxruntime",
        help="onnxruntime_onnx / tensorrt_plan models (NGC container), or Python-backend models "
        "running onnxruntime (servers with only the Python backend, e.g. nvidia-pytriton's)",
    )
    build.add_argument(
        "--max-batch", type=int, default=8, metavar="N", help="max_batch_size (default 8)"
    )
    build.add_argument(
        "--instances", type=int, default=1, metavar="K", help="instances per model (default 1)"
    )
    build.add_argument(
        "--dynamic-batching-delay-us",
        type=int,
        default=1000,
        metavar="D",
        help="dynamic batchers' max queue delay in microseconds (default 1000)",
    )
    build.add_argument(
        "--box-buckets",
        default="8,16,32",
        metavar="N,N,...",
        help="box counts clients pad to (default 8,16,32)",
    )
    build.add_argument(
        "--kind",
        choices=("auto", "cpu", "gpu"),
        default=None,
        help="instance kind (default by platform)",
    )
    build.add_argument(
        "--max-inflight",
        type=int,
        default=None,
        metavar="N",
        help="ensemble max_inflight_requests (default 4 x max-batch; python: 0 = left out, "
        "for servers older than Triton 25.10)",
    )
    build.add_argument("--revision", default=None, help="Hub revision of a repo id")
    build.add_argument("--cache-dir", default=None, help="Hub cache folder for a repo id")
    _add_global_flags(build)
    build.set_defaults(func=_build)


def _add_start(commands: Any) -> None:
    start = commands.add_parser(
        "start",
        help="run tritonserver on a repository (until Ctrl-C)",
        description=(
            "Run tritonserver on a model repository: the one on PATH, else the one bundled in "
            "nvidia-pytriton. Waits until every model is ready, prints the URLs, and stops on "
            "Ctrl-C / SIGTERM. -v shows the server's log."
        ),
    )
    start.add_argument("repository", type=Path, metavar="REPO", help="Triton model repository")
    start.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    start.add_argument("--http-port", type=int, default=8000, help="default 8000")
    start.add_argument("--grpc-port", type=int, default=8001, help="default 8001")
    start.add_argument("--metrics-port", type=int, default=8002, help="default 8002")
    start.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to wait for the models",
    )
    start.add_argument(
        "--exit-timeout",
        type=int,
        default=30,
        metavar="S",
        help="on Ctrl-C, seconds the server waits for in-flight requests (default 30)",
    )
    _add_global_flags(start)
    start.set_defaults(func=_start)


def _add_global_flags(parser: argparse.ArgumentParser) -> None:
    """``-v`` / ``--debug`` accepted after the sub-sub-command too (``cofin serve start R -v``)."""
    for flags, dest in ((("-v", "--verbose"), "verbose"), (("--debug",), "debug")):
        parser.add_argument(
            *flags,
            dest=dest,
            action="store_true",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def _buckets(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--box-buckets {text!r}: give box counts like 8,16,32") from None


def _build(args: argparse.Namespace) -> int:
    from serving.repository import build_repository, check_repository_out

    check_repository_out(args.out, "--out ")
    out = build_repository(
        args.source,
        args.out,
        platform=args.platform,
        max_batch=args.max_batch,
        instances=args.instances,
        dynamic_batching_delay_us=args.dynamic_batching_delay_us,
        box_buckets=_buckets(args.box_buckets),
        instance_kind=args.kind,
        max_inflight_requests=args.max_inflight,
        revision=args.revision,
        cache_dir=args.cache_dir,
    )
    models = sorted(p.name for p in out.iterdir() if (p / "config.pbtxt").is_file())
    print(f"wrote Triton model repository {out} ({args.platform}): {', '.join(models)}")
    print(f"serve it: cofin serve start {out}")
    return 0


def _start(args: argparse.Namespace) -> int:
    from serving.server import TritonServer, TritonStartError

    server = TritonServer(
        args.repository,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        startup_timeout_s=args.startup_timeout,
        exit_timeout_s=args.exit_timeout,
        echo=bool(getattr(args, "verbose", False)),
    )
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        server.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except TritonStartError:
            if received:  # Ctrl-C while the models were loading
                print("Triton stopped before it was ready", file=sys.stderr)
                return 130
            raise
        which = (
            "nvidia-pytriton's tritonserver" if server.binary.bundled else str(server.binary.path)
        )
        print(f"Triton ready ({which}), models: {', '.join(server.models)}")
        print(f"  HTTP     {server.http_url}")
        print(f"  gRPC     {server.grpc_url}")
        print(f"  metrics  {server.metrics_url}")
        print(f'  client   Detector.from_triton("{server.grpc_url}")   (Ctrl-C stops)', flush=True)
        code = server.wait()
        if received:
            print(f"Triton stopped (signal {signal.Signals(received[0]).name})", file=sys.stderr)
            return 0
        lines = "\n".join(f"  {line}" for line in server.error_lines())
        what = f"tritonserver exited by itself with code {code}" + (f":\n{lines}" if lines else "")
        raise TritonStartError(what, server.error_lines())
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
