"""``cofin watch``: live action detection on a stream, one line per keyframe.

Examples::

    cofin watch rtsp://camera.local/live --model runs/quickstart/model --jsonl live.jsonl
    cofin watch tcp://127.0.0.1:9000 --model exported/ --backend onnx --out live.mp4
    cofin watch /dev/video0 --backend triton --url grpc://127.0.0.1:8001 --box 0,0,640,480
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cofin_sdk.io.paths import check_output_path

from .detect import add_tracking, timeline_rule, write_timeline

logger = logging.getLogger(__name__)

__all__ = ["register_watch"]


def register_watch(subparsers: Any) -> None:
    """Adds ``cofin watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="live action detection on a stream (RTSP/HTTP/TCP/UDP, webcam, file, pipe)",
        description="Score a live stream keyframe by keyframe; one line per keyframe.",
    )
    parser.add_argument(
        "source", help="stream URL (rtsp/rtmp/http(s)/tcp/udp/srt), /dev/videoN, file, or - (stdin)"
    )
    parser.add_argument(
        "--model",
        help="save_pretrained folder or Hub repo id (torch, onnx), an export folder (onnx), "
        "or the Triton model name (triton, default cofin)",
    )
    parser.add_argument("--backend", choices=["torch", "onnx", "triton"], default="torch")
    parser.add_argument("--url", help="Triton server of --backend triton: grpc://HOST:PORT")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--every", type=float, default=1.0, help="keyframe spacing in seconds")
    parser.add_argument(
        "--keyframe",
        choices=["causal", "centre"],
        default="causal",
        help="causal: the clip ends at the keyframe (lowest latency); centre: the paper's rule",
    )
    parser.add_argument(
        "--drop",
        choices=["latest", "none"],
        default="latest",
        help="latest: skip keyframes when inference falls behind; none: score every one",
    )
    parser.add_argument("--heads", help="comma-separated heads to run (default: all)")
    parser.add_argument(
        "--box",
        action="append",
        metavar="X1,Y1,X2,Y2",
        help="a fixed person box in frame pixels, used at every keyframe (repeatable); "
        "default: --person-detector",
    )
    parser.add_argument(
        "--person-detector", default="hog", help="hog | torchvision (when no --box is given)"
    )
    parser.add_argument("--threshold", type=float, default=0.3, help="hide actions below this")
    parser.add_argument("--fps", type=float, help="frame rate, if the stream states none")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a stall may last")
    parser.add_argument("--reconnect", type=int, default=0, help="reconnect attempts after a stall")
    parser.add_argument("--jsonl", type=Path, help="append one JSON line per keyframe here")
    parser.add_argument("--out", type=Path, help="write annotated keyframes as an mp4 here")
    add_tracking(parser)
    parser.set_defaults(func=run_watch)


def _boxes(args: argparse.Namespace) -> list[list[float]] | None:
    if not args.box:
        return None
    boxes = []
    for text in args.box:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 4:
            raise ValueError(f"--box {text!r}: expected four numbers X1,Y1,X2,Y2 in pixels")
        boxes.append(values)
    return boxes


def _check_args(args: argparse.Namespace) -> None:
    """Every flag, before the model loads and the stream opens."""
    from cofin_sdk.detector.inputs import check_every
    from cofin_sdk.io.stream import check_source

    if args.backend == "triton" and not args.url:
        raise ValueError("--backend triton needs --url grpc://HOST:PORT or http://HOST:PORT")
    if args.backend != "triton" and args.url:
        raise ValueError(
            f"--url is the Triton server of --backend triton, not of --backend {args.backend}"
        )
    if args.backend != "triton" and not args.model:
        raise ValueError("--model is required: a save_pretrained folder, Hub repo id or export")
    if not 0 <= args.threshold <= 1:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    check_every(args.every, math.inf, "--every ")
    if args.source != "-":
        check_source(args.source)  # scheme, file, webcam: before the model loads
    if args.timeout <= 0 or args.reconnect < 0:
        raise ValueError("--timeout must be > 0 seconds and --reconnect >= 0")
    if args.jsonl is not None:
        check_output_path(args.jsonl, "--jsonl")
    if args.out is not None:
        check_output_path(args.out, "--out", (".mp4",))
    if args.timeline is not None:
        check_output_path(args.timeline, "--timeline", (".csv", ".json"))
    timeline_rule(args)


def _load_detector(args: argparse.Namespace, person: Any) -> Any:
    from cofin_sdk.detector import Detector

    common = {"person_detector": person, "progress": False}
    if args.backend == "triton":
        return Detector.from_triton(args.url, args.model or "cofin", **common)
    model = Path(args.model)
    if args.backend == "onnx" and (model / "cofin_export.json").is_file():
        return Detector.from_export(model, **common)
    from cofin_sdk.backends import check_device

    check_device(args.device, "--device")
    return Detector.from_pretrained(args.model, backend=args.backend, device=args.device, **common)


def _line(result: Any) -> str:
    """``t=  12.00s  2 people  latency 0.21s  [dropped 1]  sit 0.81, stand 0.44 | k400: run``."""
    parts = [f"t={result.time:8.2f}s"]
    actions: dict[str, float] = {}
    if result.detections is not None:
        parts.append(f"{len(result.detections)} people")
        tracked = result.detections.track_ids[result.detections.track_ids >= 0]
        if len(tracked):
            parts.append("#" + ",".join(str(i) for i in tracked.tolist()))
        for person in result.detections.top_actions(2):
            for name, score in person:
                actions[name] = max(actions.get(name, 0.0), score)
    parts.append(f"latency {result.latency:.2f}s")
    if result.dropped:
        parts.append(f"dropped {result.dropped}")
    top = sorted(actions.items(), key=lambda item: -item[1])[:3]
    text = "  ".join(parts) + "  " + (", ".join(f"{n} {s:.2f}" for n, s in top) or "-")
    for name, c in result.classifications.items():
        label, prob = c.top_k(1)[0]
        text += f" | {name}: {label} {prob:.2f}"
    return text


def _annotated(results: Iterator[Any], jsonl: Any, kept: list[Any] | None) -> Iterator[Any]:
    """Prints and logs each result (keeping its detections in ``kept`` for the timeline),
    yielding its drawn key frame."""
    for result in results:
        print(_line(result), flush=True)
        if kept is not None and result.detections is not None:
            kept.append(result.detections)
        if jsonl is not None:
            jsonl.write(json.dumps(result.to_dict()) + "\n")
            jsonl.flush()
        if result.detections is None:
            yield result.frame
        else:
            yield result.detections.draw(result.frame)


def _write_stream_timeline(kept: list[Any], args: argparse.Namespace) -> None:
    from cofin_sdk.results import Detections

    timeline = Detections.merge(kept).timeline(**timeline_rule(args))
    write_timeline(timeline, args.timeline)
    tracks = len(set(timeline.track_ids.tolist()))
    print(f"{len(timeline)} action segment(s) of {tracks} track(s) on the timeline")


def run_watch(args: argparse.Namespace) -> int:
    """Runs ``cofin watch`` until the stream ends (or Ctrl-C); prints a summary line."""
    _check_args(args)
    boxes = _boxes(args)
    detector = _load_detector(args, None if boxes else args.person_detector)
    source: Any = sys.stdin.buffer if args.source == "-" else args.source
    heads = args.heads.split(",") if args.heads else None
    live = detector.stream(
        source,
        every=args.every,
        keyframe=args.keyframe,
        drop=args.drop,
        heads=heads,
        boxes=boxes,
        threshold=args.threshold,
        fps=args.fps,
        timeout_s=args.timeout,
        reconnect=args.reconnect,
        track=args.track,
        track_fps=args.track_fps,
        reid=args.reid,
    )
    jsonl = args.jsonl.open("a") if args.jsonl else None
    kept: list[Any] | None = [] if args.timeline else None
    try:
        with live:
            frames = _annotated(live, jsonl, kept)
            if args.out:
                from cofin_sdk.io.writer import write_video

                write_video(args.out, frames, fps=1.0 / args.every)
            else:
                for _ in frames:
                    pass
    finally:
        if jsonl is not None:
            jsonl.close()
        if kept:  # also after Ctrl-C or a stall: the keyframes seen so far are not lost
            _write_stream_timeline(kept, args)
    print(
        f"{args.source}: {live.processed} keyframes scored, {live.dropped} dropped, "
        f"{live.corrupt_packets} corrupt packets skipped"
    )
    for path in (args.jsonl, args.out, args.timeline if kept else None):
        if path is not None:
            print(f"wrote {path}")
    return 0
