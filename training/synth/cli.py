"""``cofin synth``: generate the synthetic datasets from the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``synth`` sub-command to ``cofin``'s sub-parsers."""
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic AVA/Kinetics/Moments/SSv2 data in the real formats",
        description="Generate procedurally animated actors as H.264 videos plus AVA-, Kinetics-, "
        "Moments-in-Time- and SSv2-format annotations (see docs/CONVENTIONS.md for the layout).",
    )
    parser.add_argument(
        "--preset", default="tiny", help="tiny (tests, seconds), bench or bench2 (minutes)"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering videos")
    parser.set_defaults(func=run)
    return parser


def _print_counts(title: str, per_split: dict) -> None:
    names = sorted(
        set(per_split["train"]) | set(per_split["val"]), key=lambda n: -per_split["train"].get(n, 0)
    )
    print(
        f"{title}: {sum(per_split['train'].values())} train / {sum(per_split['val'].values())} val"
    )
    width = max(len(n) for n in names) if names else 0
    for name in names:
        print(
            f"  {name:<{width}}  train {per_split['train'].get(name, 0):>6}  val {per_split['val'].get(name, 0):>5}"
        )


def check_out_dir(out: str, flag: str = "--out") -> None:
    """``out`` may receive a synthetic dataset: new, empty, or an earlier one (regenerated).

    Raises:
        ValueError: ``out`` is a file, or a non-empty folder that is not a synthetic dataset
            (its files would be mixed with generated ones).
    """
    from pathlib import Path

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {out} is a file; give a folder for the dataset")
    if path.is_dir() and any(path.iterdir()) and not (path / "synth_meta.json").is_file():
        raise ValueError(
            f"{flag} {out} is a non-empty folder that holds no synthetic dataset "
            "(no synth_meta.json); choose a new or empty folder"
        )


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and print a summary (counts per class and split, paths, time)."""
    from training.synth.generator import generate
    from training.synth.presets import PRESETS

    if args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset}: unknown; choose one of {', '.join(PRESETS)}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    check_out_dir(args.out)
    summary = generate(
        args.out, preset=args.preset, seed=args.seed, workers=args.workers, progress=True
    )
    meta_hmt = json.loads((summary.root / "synth_meta.json").read_text())["ava"]["head_mid_tail"]
    _print_counts("AVA box-labels", summary.counts["ava"])
    print(
        f"  head/mid/tail thresholds: head > {meta_hmt['head_above']}, tail < {meta_hmt['tail_below']} "
        f"({len(meta_hmt['head'])}/{len(meta_hmt['mid'])}/{len(meta_hmt['tail'])} evaluated classes)"
    )
    for dataset in ("kinetics", "mit", "ssv2"):
        _print_counts(f"{dataset} clips", summary.counts[dataset])
    videos = ", ".join(f"{k} {v}" for k, v in summary.num_videos.items())
    print(f"videos: {videos}")
    print(
        f"wrote {summary.preset.name} (seed {summary.seed}) to {summary.root.resolve()} in {summary.seconds:.1f} s"
    )
    return 0
