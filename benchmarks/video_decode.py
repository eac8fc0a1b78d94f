"""Clip decode and preprocessing timings, side by side in one run.

Compares ``cofin_sdk.io.video.read_clip`` (seek + decode only what is needed) with a
hand-written raw PyAV loop decoding the very same frames, and times the shared
``preprocess_clip`` on the decoded clip. Prints milliseconds per clip and ratios.

Usage:
    python benchmarks/video_decode.py [--width 320 --height 240 --num-clips 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from cofin_sdk.io.video import clip_indices_at, probe, read_clip, write_video
from cofin_sdk.preprocessing import Preprocessing, preprocess_clip


def _synthetic_frames(width: int, height: int, count: int):
    ys, xs = np.mgrid[:height, :width]
    for i in range(count):
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = (xs + 3 * i) % 256
        frame[..., 1] = (2 * ys + i) % 256
        frame[..., 2] = ((xs // 20 + ys // 20 + i // 5) % 2) * 200
        yield frame


def _raw_pyav(path: Path, indices: np.ndarray, fps: float) -> np.ndarray:
    """Baseline: seek to the first frame, decode forward, keep the wanted indices."""
    wanted = set(indices.tolist())
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(indices.min() / fps / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            index = round(frame.time * fps)
            if index in wanted:
                out[index] = frame.to_ndarray(format="rgb24")
            if index >= indices.max():
                break
    return np.stack([out[i] for i in indices.tolist()])


def _time(fn: Callable[[int], object], repeats: int) -> float:
    fn(0)  # warm-up (codec and library initialisation)
    start = time.perf_counter()
    for k in range(repeats):
        fn(k)
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--num-clips", type=int, default=20)
    args = parser.parse_args()
    prep = Preprocessing()  # 32 frames, stride 2, 224
    fps = 25
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        start = time.perf_counter()
        write_video(path, _synthetic_frames(args.width, args.height, args.seconds * fps), fps)
        encode_ms = (time.perf_counter() - start) * 1e3
        info = probe(path)
        centers = np.linspace(1.5, args.seconds - 1.5, args.num_clips)

        def ours(k: int) -> np.ndarray:
            return read_clip(
                path, centers[k % len(centers)], prep.num_frames, prep.frame_stride, info=info
            )

        def raw(k: int) -> np.ndarray:
            indices = clip_indices_at(
                centers[k % len(centers)], fps, info.num_frames, prep.num_frames, prep.frame_stride
            )
            return _raw_pyav(path, indices, fps)

        assert np.array_equal(ours(3), raw(3)), "read_clip and raw PyAV disagree"
        clip = ours(0)
        ours_ms = _time(ours, args.num_clips)
        raw_ms = _time(raw, args.num_clips)
        probe_ms = _time(lambda k: probe(path), args.num_clips)
        prep_ms = _time(lambda k: preprocess_clip(clip, prep), args.num_clips)
    print(
        f"video {args.width}x{args.height} @ {fps} fps, {args.seconds} s; torch threads {torch.get_num_threads()}"
    )
    print(f"encode {args.seconds * fps} frames (write_video): {encode_ms:8.1f} ms")
    print(f"probe:                                {probe_ms:8.1f} ms")
    print(f"read_clip 32 x stride 2:              {ours_ms:8.1f} ms/clip")
    print(
        f"raw PyAV, same frames:                {raw_ms:8.1f} ms/clip  (raw/ours = {raw_ms / ours_ms:.2f})"
    )
    print(
        f"preprocess_clip -> [3,32,224,224]:    {prep_ms:8.1f} ms/clip  (prep/decode = {prep_ms / ours_ms:.2f})"
    )


if __name__ == "__main__":
    main()
