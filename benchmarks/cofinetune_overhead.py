"""Co-finetuning overhead: steps/s of one run over three datasets vs single-dataset runs.

Same model, same global batch, same data pipeline, in one process, interleaved in rounds
(a few steps of each run per round; medians) so machine noise hits every side alike.

Two ratios are printed:
* ``cofinetune / mix-weighted single``: the co-finetuning step rate divided by the rate
  the same mix of steps would have if each dataset were trained alone (harmonic mean of
  the single-dataset rates weighted by how often co-finetuning drew each dataset). This
  isolates what co-finetuning itself costs (head switching, sampler, mixed batches).
  Target ≥ 0.98.
* ``cofinetune / kinetics only``: the raw comparison with a single classification
  dataset; it also contains the (larger) cost of AVA's box handling, so it is not an
  overhead figure, but people ask for it.

    python benchmarks/cofinetune_overhead.py [--steps 8] [--rounds 5] [--image-size 96]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from training.configs.base import apply_overrides, load_config
from training.trainer import _loader, _micro_batches_per_step, _setup, train_step

SINGLE = ("ava", "kinetics", "ssv2")


def make_config(root: Path, out: Path, heads: tuple[str, ...], args: argparse.Namespace):
    cfg = load_config("synthetic_tiny")[0]
    cfg.datasets = [d for d in cfg.datasets if d.name in heads]
    for d in cfg.datasets:
        d.root = str(root / d.kind)
    cfg.run.synth_preset = None
    sets = [
        f"run.image_size={args.image_size}",
        "run.num_frames=8",
        f"run.global_batch_size={args.batch}",
        "run.num_workers=0",
        f"run.out_dir={out}",
        "run.progress=false",
        "run.tensorboard=false",
        "schedule.epochs=1000",
        "eval.at_end=false",
    ]
    return apply_overrides(cfg, sets)


class TimedRun:
    def __init__(self, name: str, cfg) -> None:
        self.name = name
        torch.manual_seed(0)
        self.run, _ = _setup(cfg, resume=False)
        self.items = iter(_loader(self.run, 0, 10**6))
        self.per_step = _micro_batches_per_step(self.run)
        self.step, self.times, self.heads = 0, [], []

    def steps(self, n: int) -> None:
        start = time.perf_counter()
        for _ in range(n):
            batch = [next(self.items) for _ in range(self.per_step)]
            head, _ = train_step(self.run, self.step, batch)
            self.heads.append(head)
            self.step += 1
        self.times.append((time.perf_counter() - start) / n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=8, help="steps per run per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from training.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        generate(root, preset="tiny", seed=0)
        runs = [TimedRun(h, make_config(root, Path(tmp) / h, (h,), args)) for h in SINGLE]
        runs.append(TimedRun("cofinetune", make_config(root, Path(tmp) / "co", SINGLE, args)))
        for run in runs:  # warm-up: first decode/open of every file, allocator
            run.steps(2)
            run.times.clear()
        for r in range(args.rounds):
            for run in runs[r % len(runs) :] + runs[: r % len(runs)]:  # rotate the order
                run.steps(args.steps)
    rate = {run.name: 1.0 / statistics.median(run.times) for run in runs}
    co = runs[-1]
    mix = {h: co.heads.count(h) / len(co.heads) for h in SINGLE}
    mix_rate = 1.0 / sum(mix[h] / rate[h] for h in SINGLE)  # time-weighted (harmonic) mix
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
        f"{args.image_size}px, 8 frames, {args.rounds} rounds x {args.steps} steps (medians)"
    )
    for name, value in rate.items():
        print(f"  {name:<11} {value:6.2f} steps/s")
    print("  co-finetuning drew: " + ", ".join(f"{h} {mix[h]:.0%}" for h in SINGLE))
    print(
        f"cofinetune / mix-weighted single = {rate['cofinetune'] / mix_rate:.3f}   (target >= 0.98)"
    )
    print(f"cofinetune / kinetics only       = {rate['cofinetune'] / rate['kinetics']:.3f}")


if __name__ == "__main__":
    main()
