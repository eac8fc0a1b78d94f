"""AVA dataset loading throughput vs raw PyAV decoding of the very same frames (issue 3, item 6).

Measured side by side in one run, interleaved sample by sample (order alternating):

* ``raw PyAV``: open, seek to the keyframe before the first needed frame, decode
  forward and convert the needed frames to RGB (the minimum any loader must do);
* ``dataset read``: :meth:`AVADataset.read_frames` — our whole read path (keyframe
  table, clip sampler, ``cofin_sdk.io.video.read_clip``) WITHOUT resizing; the ratio
  ``dataset read / raw`` in clips/s is our overhead over raw decode (target ≥ 0.9);
* ``dataset[i] eval`` and ``dataset[i] train``: full samples with the shared
  preprocessing (letterbox to ``--image-size``, normalise) and, for train, the
  augmentations. Reported for information.

The first sample's frames are checked to be identical between the dataset and the
raw loop (same frames decoded). Data: a small synthetic AVA set generated with
``training.synth`` at 320×240 (or ``--root`` to an existing AVA folder).

Example::

    python benchmarks/data_loading.py                      # 32 frames, stride 2
    python benchmarks/data_loading.py --root /data/ava --split val --max-samples 50
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from cofin_sdk.io.video import clip_indices_at, probe
from cofin_sdk.preprocessing import Preprocessing
from training.data import AVADataset


def raw_pyav_clip(path: Path, center_time: float, num_frames: int, frame_stride: int) -> np.ndarray:
    """Baseline: the same frames as ``read_clip`` with a bare PyAV seek + decode loop."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps, time_base, start = float(stream.average_rate), stream.time_base, stream.start_time or 0
        indices = clip_indices_at(center_time, fps, stream.frames, num_frames, frame_stride)
        first, last, wanted = int(indices.min()), int(indices.max()), set(indices.tolist())
        container.seek(int(first / fps / time_base) + start, stream=stream, backward=True)
        frames: dict[int, np.ndarray] = {}
        for frame in container.decode(stream):
            index = round(float((frame.pts - start) * time_base) * fps)
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= last:
                break
    return np.stack([frames[i] for i in indices.tolist()])  # (T, H, W, 3)


def make_dataset_root(out: Path, width: int, height: int, fps: int) -> Path:
    """A small synthetic AVA set with larger frames."""
    from training.synth import generate

    generate(
        out,
        preset="tiny",
        seed=0,
        ava_size=(width, height),
        fps=fps,
        ava_train_videos=2,
        ava_val_videos=1,
    )
    return out / "ava"


def time_interleaved(
    fns: dict[str, Callable[[int], object]], samples: list[int], rounds: int
) -> dict[str, float]:
    """Seconds per call of each function, interleaved per sample with rotating order."""
    totals = {name: [] for name in fns}
    names = list(fns)
    for name in names:  # warm-up: codec initialisation, probe cache
        fns[name](samples[0])
    for r in range(rounds):
        for k, index in enumerate(samples):
            shift = (r + k) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                fns[name](index)
                totals[name].append(time.perf_counter() - start)
    return {name: statistics.fmean(values) for name, values in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root", type=Path, help="existing AVA folder (default: generate synthetic data)"
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--num-frames", type=int, default=32)
    parser.add_argument("--frame-stride", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--max-samples", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="cofin_bench_data_") as tmp:
        root = args.root or make_dataset_root(Path(tmp), args.width, args.height, args.fps)
        prep = Preprocessing(
            image_size=args.image_size, num_frames=args.num_frames, frame_stride=args.frame_stride
        )
        eval_ds = AVADataset(root, args.split, prep, train=False, boxes="gt")
        train_ds = AVADataset(root, args.split, prep, train=True, boxes="gt")
        samples = list(range(min(len(eval_ds), args.max_samples)))

        def raw(index: int) -> np.ndarray:
            source, center_time = eval_ds.clip_source(index)
            return raw_pyav_clip(source, center_time, prep.num_frames, prep.frame_stride)

        ours, reference = eval_ds.read_frames(0), raw(0)
        if not np.array_equal(ours, reference):
            raise SystemExit(
                "dataset and raw PyAV decoded different frames; the comparison would be unfair"
            )
        info = probe(eval_ds.clip_source(0)[0])
        seconds = time_interleaved(
            {
                "raw PyAV": raw,
                "dataset read": eval_ds.read_frames,
                "dataset[i] eval": eval_ds.__getitem__,
                "dataset[i] train": train_ds.__getitem__,
            },
            samples,
            args.rounds,
        )

    print(
        f"AVA clips: {args.num_frames} frames, stride {args.frame_stride}, {info.width}x{info.height} @ {info.fps:g} fps, {len(samples)} keyframes x {args.rounds} rounds, torch threads {args.threads}"
    )
    for name, value in seconds.items():
        print(f"  {name:18s} {1 / value:7.2f} clips/s  ({value * 1e3:7.1f} ms/clip)")
    ratio = seconds["raw PyAV"] / seconds["dataset read"]
    print(f"ratio dataset read / raw PyAV (clips/s): {ratio:.3f}   (target >= 0.9)")
    print(
        f"ratio dataset[i] eval / raw PyAV:        {seconds['raw PyAV'] / seconds['dataset[i] eval']:.3f}"
    )
    print(
        f"ratio dataset[i] train / raw PyAV:       {seconds['raw PyAV'] / seconds['dataset[i] train']:.3f}"
    )


if __name__ == "__main__":
    main()
