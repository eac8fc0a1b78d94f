"""Latency, throughput and memory of ``Detector.stream`` on a live stream, side by side.

Debian's ffmpeg serves a synthetic 320x240 25-fps H.264 clip as MPEG-TS over loopback TCP
at real-time rate (``-re``, looped to the run's length); the Detector reads it as a client
with the quickstart model's size (``vivit_ti16_fe``, 2 + 1 layers, 96 px, 8 frames at
stride 2; random weights: latency does not depend on their values). Each mode is one
stream of ``--seconds`` seconds, keyframes every ``--every`` s, ``drop="latest"``:

* ``causal / given boxes``: the clip ends at the keyframe, 2 fixed person boxes;
* ``centre / given boxes``: the paper's centred clip (waits for half a clip);
* ``causal / HOG boxes``: the person detector runs on every key frame;
* ``causal / HOG boxes, tracked``: ``track=True``: HOG also on the frames between keyframes
  at 5 fps (``track_fps``), fed to the stream's tracker (not in the default ``--modes``).

Reported per mode: p50 / p95 of (result wall time - key frame arrival wall time), keyframes
scored per second against the stream's keyframe rate, drops, and the process RSS after
the first minute (or first quarter of a shorter run) against the end.

Usage:
    python benchmarks/stream_latency.py --seconds 60
    python benchmarks/stream_latency.py --seconds 600 --modes causal-given   # 10-minute RSS
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = {  # placement, given boxes, tracked (people at 5 fps between keyframes)
    "causal-given": ("causal", True, False),
    "centre-given": ("centre", True, False),
    "causal-hog": ("causal", False, False),
    "causal-hog-track": ("causal", False, True),
}
BOXES = [[40.0, 30.0, 140.0, 230.0], [180.0, 40.0, 290.0, 235.0]]


def rss_mb() -> float:
    """Resident set size of this process, MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_clip(path: Path, seconds: int = 20, fps: int = 25) -> None:
    """Moving blocks on noise, 320x240: a keyframe's clip is never a still picture."""
    from cofin_sdk.io.video import write_video

    rng = np.random.default_rng(0)

    def frames():
        for t in range(seconds * fps):
            frame = rng.integers(0, 90, (240, 320, 3), dtype=np.uint8)
            x = (4 * t) % 260
            frame[40:220, x : x + 50] = (200, 160, 120)
            yield frame

    write_video(path, frames(), fps=fps)


def build_detector(threads: int):
    """The quickstart model's architecture (``synthetic_tiny``) with random weights."""
    import torch

    from cofin_sdk import Detector
    from cofin_sdk.models import HeadSpec
    from training.builders import new_model
    from training.configs.base import load_config

    torch.set_num_threads(threads)
    train_cfg = load_config("synthetic_tiny")[0]
    heads = {
        "ava": HeadSpec("detection", 80),
        "kinetics": HeadSpec("classification", 10),
    }
    return Detector(new_model(train_cfg, heads).eval(), progress=False)


def serve(clip: Path, seconds: float) -> tuple[str, subprocess.Popen]:
    """ffmpeg serving ``clip`` looped for ``seconds`` at real-time rate on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    command = ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip)]
    command += ["-t", str(seconds), "-c", "copy", "-f", "mpegts", f"{url}?listen=1"]
    process = subprocess.Popen(command)
    wanted = f":{port:04X}"
    while not any(
        line.split()[1].endswith(wanted) and line.split()[3] == "0A"
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
    ):
        time.sleep(0.05)
    return url, process


def run_mode(detector, clip: Path, mode: str, seconds: float, every: float) -> dict:
    placement, given, track = MODES[mode]
    url, process = serve(clip, seconds)
    latencies, scored, dropped = [], 0, 0
    rss_early, early_at = None, min(60.0, seconds / 4)
    start = time.monotonic()
    kwargs = {"boxes": BOXES} if given else {"person_detector": "hog"}
    if track:
        kwargs.update(track=True, track_fps=5.0)
    with detector.stream(url, every=every, keyframe=placement, drop="latest", **kwargs) as live:
        for result in live:
            if result.index > 0:  # the first includes torch's warm-up
                latencies.append(result.latency)
            scored += 1
            dropped += result.dropped
            if rss_early is None and time.monotonic() - start >= early_at:
                rss_early = rss_mb()
    elapsed = time.monotonic() - start
    process.wait()
    rss_end = rss_mb()
    return {
        "mode": mode,
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "rate": scored / elapsed,
        "stream_rate": 1.0 / every,
        "scored": scored,
        "dropped": dropped,
        "rss_early": rss_early or float("nan"),
        "early_at": early_at,
        "rss_end": rss_end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="stream length per mode")
    parser.add_argument("--every", type=float, default=1.0, help="keyframe spacing (s)")
    parser.add_argument(
        "--modes", default="causal-given,centre-given,causal-hog", help=f"of {', '.join(MODES)}"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is missing: apt-get install -y ffmpeg")
    detector = build_detector(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cofin_stream_bench_") as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip)
        for mode in args.modes.split(","):
            rows.append(run_mode(detector, clip, mode, args.seconds, args.every))
            print(f"done {mode}", flush=True)
    print(
        "| mode | p50 latency | p95 latency | scored/s vs stream | scored | dropped "
        "| RSS early | RSS end | growth |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        growth = 100 * (r["rss_end"] / r["rss_early"] - 1)
        print(
            f"| {r['mode']} | {r['p50']:.3f} s | {r['p95']:.3f} s | "
            f"{r['rate']:.2f} / {r['stream_rate']:.2f} | {r['scored']} | {r['dropped']} | "
            f"{r['rss_early']:.0f} MB (at {r['early_at']:.0f} s) | {r['rss_end']:.0f} MB | "
            f"{growth:+.1f} % |"
        )


if __name__ == "__main__":
    main()
