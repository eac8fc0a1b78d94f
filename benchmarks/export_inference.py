"""Export inference benchmark (issue 10, item 7): the Detector on torch eager vs onnxruntime
fp32 vs onnxruntime int8, side by side in one run (STYLE.md rule 9).

What is timed: ``Detector.analyze`` (the detection head + a classification head on the same
keyframe clips, one backbone pass per batch) on one H.264 video with given person boxes
(3 per keyframe, so no person detector runs), for batch 1 (one keyframe, ``batch_size=1``)
and batch 8 (eight keyframes, ``batch_size=8``). The three backends run in rounds, the
order rotating every round, after one warm-up round; figures are medians over rounds.

Where the time goes: a wrapper backend times every ``features`` (backbone) and ``head``
call; decoding (``FileVideo.frames_at``: PyAV seek + decode) and preprocessing
(``letterbox_frames``, where the clip streamer calls it) are timed in place; "other" is the
rest (opening and probing the file, stacking clips, boxes, results). The video has a
keyframe every 2 s, so a seek decodes at most 2 s of frames before the clip.

Models: the quickstart size (``vivit_ti16_fe`` 2+1 layers, 96 px, 8 frames; random weights,
or trained ones with ``--model DIR``) and, with ``--b16``, ``vivit_b16_fe`` at 224 px /
32 frames (random weights; minutes). Heads: ``ava`` (detection, 60 classes) and
``kinetics`` (classification, 400). torch and onnxruntime get the same thread count
(``--threads``, default 2; onnxruntime inter-op threads 1).

Example::

    nice -n 10 python benchmarks/export_inference.py                  # quickstart size, ~2 min
    nice -n 10 python benchmarks/export_inference.py --b16 --b16-rounds 2
    python benchmarks/export_inference.py --b16 --b16-rounds 2 --backends torch ort_fp32 ort_int8  # less memory
    python benchmarks/export_inference.py --model cofin_quickstart/run/final --rounds 9
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cofin_sdk.io.clips as clips_module
from cofin_sdk import Detector, create_model
from cofin_sdk.backends import OnnxBackend, TorchBackend
from cofin_sdk.export import export
from cofin_sdk.io.sources import FileVideo
from cofin_sdk.io.video import write_video
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.preprocessing import Preprocessing

#: ort_fp32_op20: the backbone exported at the heads' opset 20 (``fused_attention=False``):
#: attention as MatMul/Softmax/MatMul, what exports were before the fused-attention backbone.
BACKENDS = ("torch", "ort_fp32", "ort_int8", "ort_fp32_op20")
BATCHES = (1, 8)
PARTS = ("decode", "preprocess", "backbone", "heads", "other")
HEADS = {
    "ava": {"task": "detection", "num_classes": 60},
    "kinetics": {"task": "classification", "num_classes": 400},
}
MODELS = {  # name -> (variant, overrides, image_size, num_frames)
    "quickstart": ("vivit_ti16_fe", {"spatial_depth": 2, "temporal_depth": 1}, 96, 8),
    "b16": ("vivit_b16_fe", {}, 224, 32),
}


# ----------------------------------------------------------------------------- timing
class Clock:
    """Seconds spent per part since the last :meth:`reset`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.seconds.clear()

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


class TimedBackend:
    """A Backend that times the backbone (``features``) and head calls of another one."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self.inner, self.clock = inner, clock
        self.name = f"timed {inner.name}"
        self.heads: Mapping[str, HeadSpec] = inner.heads
        self.preprocessing: Preprocessing = inner.preprocessing

    def features(self, frames: np.ndarray) -> np.ndarray:
        with self.clock.part("backbone"):
            return self.inner.features(frames)

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        with self.clock.part("heads"):
            return self.inner.head(name, features, boxes)


@contextlib.contextmanager
def timed_io(clock: Clock) -> Iterator[None]:
    """Times the Detector's decoding (``FileVideo.frames_at``: PyAV seek + decode) and its
    preprocessing (``letterbox_frames``, where the clip streamer calls it)."""
    letterbox, frames_at = clips_module.letterbox_frames, FileVideo.frames_at

    def timed_letterbox(*args: Any, **kwargs: Any) -> Any:
        with clock.part("preprocess"):
            return letterbox(*args, **kwargs)

    def timed_frames_at(self: FileVideo, indices: np.ndarray) -> Any:
        with clock.part("decode"):
            return frames_at(self, indices)

    clips_module.letterbox_frames, FileVideo.frames_at = timed_letterbox, timed_frames_at
    try:
        yield
    finally:
        clips_module.letterbox_frames, FileVideo.frames_at = letterbox, frames_at


# ----------------------------------------------------------------------------- inputs
def make_video(
    path: Path, seconds: float = 11.0, fps: int = 25, size: tuple[int, int] = (320, 240)
) -> Path:
    """An H.264 clip: moving blocks over a blocky scene with mild noise, a keyframe every 2 s."""
    rng = np.random.default_rng(0)
    W, H = size
    coarse = rng.integers(0, 256, (H // 8, W // 8, 3)).astype(np.float32)  # a blocky scene
    fine = rng.normal(0, 6, (H, W, 3))  # + sensor-like noise
    background = np.clip(np.kron(coarse, np.ones((8, 8, 1))) + fine, 0, 255).astype(np.uint8)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(seconds * fps)):
            frame = np.roll(background, i, axis=1).copy()
            for k in range(3):
                x = int((W - 60) * (0.5 + 0.4 * np.sin(0.05 * i + 2 * k)))
                frame[40 + 50 * k : 100 + 50 * k, x : x + 60] = (80 * k, 200, 255 - 80 * k)
            yield frame

    write_video(path, frames(), fps, gop_size=2 * fps)  # a keyframe every 2 s
    return path


def person_boxes() -> np.ndarray:
    """Three people (pixels of the 320 x 240 video), used at every keyframe."""
    return np.array([[10, 20, 110, 230], [120, 10, 200, 200], [210, 40, 310, 235]], np.float32)


def build_model(name: str, model_dir: str | None) -> Any:
    if model_dir is not None:
        from cofin_sdk import from_pretrained

        return from_pretrained(model_dir)
    variant, overrides, image_size, num_frames = MODELS[name]
    torch.manual_seed(0)
    return create_model(
        variant, image_size=image_size, num_frames=num_frames, heads=HEADS, **overrides
    ).eval()


def build_backends(
    model: Any, export_dir: Path, threads: int, names: Sequence[str]
) -> dict[str, Any]:
    t0 = time.perf_counter()
    export(model, export_dir, int8_dynamic="ort_int8" in names, progress=False)
    unfused_dir = export_dir.with_name("export_op20")
    if "ort_fp32_op20" in names:
        export(model, unfused_dir, fused_attention=False, progress=False)
    print(
        f"  exports ({', '.join(n for n in names if n != 'torch')}): {time.perf_counter() - t0:.1f} s"
    )
    ort = {
        "providers": ["CPUExecutionProvider"],
        "intra_op_threads": threads,
        "inter_op_threads": 1,
    }
    make = {
        "torch": lambda: TorchBackend(model),
        "ort_fp32": lambda: OnnxBackend(export_dir, **ort),
        "ort_int8": lambda: OnnxBackend(export_dir, int8=True, **ort),
        "ort_fp32_op20": lambda: OnnxBackend(unfused_dir, **ort),
    }
    return {name: make[name]() for name in names}


# ----------------------------------------------------------------------------- runs
def run_once(
    detector: Detector,
    clock: Clock,
    video: Path,
    times: list[float],
    boxes: np.ndarray,
    heads: list[str],
) -> tuple[float, dict[str, float], Any]:
    clock.reset()
    start = time.perf_counter()
    result = detector.analyze(str(video), heads=heads, timestamps=times, boxes=boxes)
    total = time.perf_counter() - start
    parts = dict(clock.seconds)
    parts["other"] = total - sum(parts.get(p, 0.0) for p in PARTS[:-1])
    return total, parts, result


def bench_model(
    name: str, model: Any, video: Path, rounds: int, threads: int, names: Sequence[str]
) -> dict[str, Any]:
    heads = [
        next(n for n, s in model.config.heads.items() if s.task == t)
        for t in ("detection", "classification")
    ]
    prep = model.preprocessing
    print(
        f"\n== {name}: {model.name} {prep.num_frames} x {prep.image_size}^2, heads {heads}, {threads} threads"
    )
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="cofin_bench_export_") as tmp:
        backends = build_backends(model, Path(tmp) / "export", threads, names)
    times = {1: [2.0], 8: [2.0 + i for i in range(8)]}
    boxes = person_boxes()
    detectors = {
        (b, batch): Detector(TimedBackend(backend, clock), batch_size=batch, progress=False)
        for b, backend in backends.items()
        for batch in BATCHES
    }
    samples: dict[tuple[str, int], list[tuple[float, dict[str, float]]]] = defaultdict(list)
    scores: dict[tuple[str, int], np.ndarray] = {}
    with timed_io(clock):
        for r in range(rounds + 1):  # round 0 warms up
            order = [*names[r % len(names) :], *names[: r % len(names)]]
            for batch in BATCHES:
                for b in order:
                    total, parts, result = run_once(
                        detectors[b, batch], clock, video, times[batch], boxes, heads
                    )
                    if r:
                        samples[b, batch].append((total, parts))
                    scores[b, batch] = result.detections.action_scores
            print(f"  round {r}/{rounds} done" + (" (warm-up)" if r == 0 else ""), flush=True)
    return {"samples": samples, "scores": scores, "prep": prep, "names": names}


def summarise(name: str, out: dict[str, Any]) -> list[str]:
    samples, scores = out["samples"], out["scores"]
    lines = [f"\n{name}: keyframes/s (median over rounds), ratio to torch eager, share of time"]
    lines.append(
        f"| batch | backend | ms / call | keyframes/s | vs torch | {' | '.join(PARTS)} | backbone ms | max |Δ ava| vs torch |"
    )
    lines.append("|---" * (7 + len(PARTS)) + "|")
    for batch in BATCHES:
        base = statistics.median(t for t, _ in samples["torch", batch])
        base_backbone = statistics.median(p["backbone"] for _, p in samples["torch", batch])
        for b in out["names"]:
            total = statistics.median(t for t, _ in samples[b, batch])
            spent = sum(t for t, _ in samples[b, batch])  # shares: sums over the rounds
            shares = [sum(p.get(part, 0.0) for _, p in samples[b, batch]) / spent for part in PARTS]
            backbone = statistics.median(p["backbone"] for _, p in samples[b, batch])
            diff = float(np.abs(scores[b, batch] - scores["torch", batch]).max())
            lines.append(
                f"| {batch} | {b} | {1e3 * total:.1f} | {batch / total:.2f} | {base / total:.2f}x | "
                + " | ".join(f"{100 * s:.0f}%" for s in shares)
                + f" | {1e3 * backbone:.1f} ({base_backbone / backbone:.2f}x) | {diff:.1e} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        help="a save_pretrained folder for the quickstart-size run (default: random weights)",
    )
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds, quickstart size")
    parser.add_argument(
        "--b16", action="store_true", help="also vivit_b16_fe at 224 px / 32 frames"
    )
    parser.add_argument("--b16-rounds", type=int, default=2, help="measured rounds of --b16")
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="backends to time (torch first; fewer saves memory: ViViT-B with all four needs ~18 GB)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = ["torch", *(b for b in args.backends if b != "torch")]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, backends {names}")
    with tempfile.TemporaryDirectory(prefix="cofin_bench_video_") as tmp:
        video = make_video(Path(tmp) / "video.mp4")
        runs = [("quickstart", args.rounds)] + ([("b16", args.b16_rounds)] if args.b16 else [])
        for name, rounds in runs:
            model = build_model(name, args.model if name == "quickstart" else None)
            label = f"{name} ({'trained ' + args.model if name == 'quickstart' and args.model else 'random weights'})"
            out = bench_model(name, model, video, rounds, args.threads, names)
            print("\n".join(summarise(label, out)), flush=True)


if __name__ == "__main__":
    main()
