"""The two letterbox resize rules side by side (issue 21): pixel difference and speed.

``cv2_area`` (OpenCV INTER_AREA down / INTER_LINEAR up, the default of new records) against
``torch_bilinear_antialias`` (torch's antialiased bilinear, the rule of older records), on
the same decoded clips, through :func:`cofin_sdk.preprocessing.letterbox_frames` (the
function every path calls). Pixel differences are over the resized area only (the zero
padding is identical); times are medians over rounds, the two rules alternating, and the
ratio is measured in the same run. torch gets ``--threads`` intra-op threads; OpenCV its
default.

Clips: OpenCV's sample ``vtest.avi`` (768 x 576, people walking; Debian ``opencv-doc``)
when found, else skipped; and a synthetic 320 x 240 clip (moving blocks over a blocky
scene, the one ``export_inference.py`` writes).

Example::

    python benchmarks/resize_rules.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cofin_sdk.io.video import read_clip
from cofin_sdk.preprocessing import letterbox_frames

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
RULES = ("torch_bilinear_antialias", "cv2_area")


def clips(tmp: Path) -> list[tuple[str, np.ndarray]]:
    """``(name, uint8 (32, H, W, 3))`` clips: 32 frames at stride 2."""
    from export_inference import make_video  # the benchmark video of benchmarks/

    out = []
    if VTEST.is_file():
        out.append(("vtest.avi 768x576", read_clip(str(VTEST), 4.0, 32, 2)))
    synthetic = make_video(tmp / "synthetic.mp4")
    out.append(("synthetic 320x240", read_clip(str(synthetic), 4.0, 32, 2)))
    return out


def compare(name: str, frames: np.ndarray, size: int, rounds: int) -> str:
    old, letterbox = letterbox_frames(frames, size, resize=RULES[0])
    new, _ = letterbox_frames(frames, size, resize=RULES[1])
    rw, rh = letterbox.resized_size
    diff = np.abs(new[:, :rh, :rw].astype(np.int16) - old[:, :rh, :rw].astype(np.int16))
    seconds: dict[str, list[float]] = {rule: [] for rule in RULES}
    for r in range(rounds + 1):  # round 0 warms up
        for rule in RULES if r % 2 else RULES[::-1]:
            start = time.perf_counter()
            letterbox_frames(frames, size, resize=rule)
            if r:
                seconds[rule].append(time.perf_counter() - start)
    old_ms, new_ms = (1e3 * statistics.median(seconds[rule]) for rule in RULES)
    return (
        f"| {name} -> {size} | {diff.mean():.2f} | {np.percentile(diff, 99):.0f} | {diff.max()} "
        f"| {100 * (diff > 2).mean():.1f}% | {old_ms:.1f} | {new_ms:.1f} | {old_ms / new_ms:.2f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per clip and size")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "| clip (32 frames) -> S | mean abs diff | p99 | max | pixels > 2 levels | "
        "torch ms | cv2 ms | cv2 speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="cofin_bench_resize_") as tmp:
        for name, frames in clips(Path(tmp)):
            for size in (224, 96):
                lines.append(compare(name, frames, size, args.rounds))
                print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
