"""AVA evaluator speed on an AVA-val-sized synthetic input (issue 5, item 1).

Generates 64 videos x 897 keyframes (57,408 keyframes, like AVA v2.2 val), 1-6 people
per keyframe (mean 3.5), ground truth with 1-3 of the 80 actions per person, and
detections with a score for each of the 60 evaluated classes per person box plus one
spurious box per keyframe (~13.8M rows before the top-50 cap; scores written with
``%.6f`` as submissions usually are, so tied scores occur). Writes the CSVs to a temp
dir, then times separately: reading the CSVs (pandas, validated) and the evaluation
(cap, matching, AP). The evaluation is run twice to show it is stable.

Example::

    python benchmarks/ava_eval.py
    python benchmarks/ava_eval.py --videos 8     # smaller input
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from training.evaluation.ava import evaluate_ava, read_ava_csv, read_exclusions, read_label_map

EVALUATED = [1, *range(3, 16), 17, 20, 22, 24, *range(26, 31), 34, *range(36, 39), 41, 43,
             *range(45, 50), 51, 52, 54, *range(56, 71), *range(72, 75), *range(76, 81)]  # fmt: skip


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, 4]`` random normalised boxes x1, y1, x2, y2."""
    centre = rng.uniform(0.2, 0.8, (n, 2))
    size = rng.uniform(0.1, 0.4, (n, 2))
    return np.clip(np.concatenate([centre - size / 2, centre + size / 2], axis=1), 0.0, 1.0)


def _video_rows(rng: np.random.Generator, video: str, num_keyframes: int) -> tuple[str, str]:
    """Ground-truth and detection CSV text for one video."""
    gt_lines, det_lines = [], []
    class_prior = rng.dirichlet(np.full(80, 0.3))  # long-tailed action frequencies
    for second in range(902, 902 + num_keyframes):
        people = _boxes(rng, int(rng.integers(1, 7)))
        actions_of = {}
        for person, box in enumerate(people):
            coords = ",".join(f"{v:.3f}" for v in box)
            actions = rng.choice(80, int(rng.integers(1, 4)), replace=False, p=class_prior) + 1
            gt_lines += [f"{video},{second:04d},{coords},{a},{person}\n" for a in actions]
            actions_of[tuple(box)] = actions
        jitter = rng.normal(0, 0.02, people.shape)
        candidates = np.vstack([np.clip(people + jitter, 0.0, 1.0), _boxes(rng, 1)])
        candidates[:, [0, 2]] = np.sort(candidates[:, [0, 2]], axis=1)  # keep x1 <= x2
        candidates[:, [1, 3]] = np.sort(candidates[:, [1, 3]], axis=1)
        for person, box in enumerate(candidates):
            actions_of[tuple(box)] = actions_of.get(
                tuple(people[person]) if person < len(people) else (), ()
            )
            prefix = f"{video},{second:04d}," + ",".join(f"{v:.3f}" for v in box) + ","
            scores = rng.beta(0.5, 4.0, len(EVALUATED))
            scores[np.isin(EVALUATED, actions_of.get(tuple(box), ()))] += 0.5  # a weak "model"
            det_lines.append("".join(f"{prefix}{c},{s:.6f}\n" for c, s in zip(EVALUATED, scores)))
    return "".join(gt_lines), "".join(det_lines)


def write_dataset(
    root: Path, num_videos: int, num_keyframes: int, seed: int = 0
) -> dict[str, Path]:
    """Writes gt.csv, det.csv, excluded.csv and the 2019 label map under ``root``."""
    rng = np.random.default_rng(seed)
    paths = {name: root / f"{name}.csv" for name in ("gt", "det", "excluded")}
    paths["labelmap"] = root / "labelmap.pbtxt"
    with open(paths["gt"], "w") as gt_file, open(paths["det"], "w") as det_file:
        for v in range(num_videos):
            gt_text, det_text = _video_rows(rng, f"video{v:03d}_xx", num_keyframes)
            gt_file.write(gt_text)
            det_file.write(det_text)
    excluded = [
        f"video{v:03d}_xx,{s:04d}\n"
        for v in range(num_videos)
        for s in range(902, 902 + num_keyframes, 97)
    ]
    paths["excluded"].write_text("".join(excluded))
    paths["labelmap"].write_text(
        "".join(
            f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
            for i in EVALUATED
        )
    )
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--keyframes", type=int, default=897)
    parser.add_argument(
        "--exact-floats", action="store_true", help="also time round-trip float parsing"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = write_dataset(Path(tmp), args.videos, args.keyframes)
        size_mb = paths["det"].stat().st_size / 1e6
        print(
            f"generated {args.videos * args.keyframes:,} keyframes in {time.perf_counter() - start:.1f}s "
            f"(detections CSV {size_mb:.0f} MB)"
        )

        start = time.perf_counter()
        gt = read_ava_csv(paths["gt"], kind="groundtruth", max_class_id=80)
        read_gt = time.perf_counter() - start
        start = time.perf_counter()
        det = read_ava_csv(paths["det"], kind="detections", max_class_id=80)
        read_det = time.perf_counter() - start
        labels, _ = read_label_map(paths["labelmap"])
        excluded = read_exclusions(paths["excluded"])
        print(f"read ground truth: {len(gt):>11,} rows in {read_gt:6.2f}s")
        print(f"read detections:   {len(det):>11,} rows in {read_det:6.2f}s")
        if args.exact_floats:
            start = time.perf_counter()
            read_ava_csv(paths["det"], kind="detections", max_class_id=80, exact_floats=True)
            print(f"read detections (exact_floats=True): {time.perf_counter() - start:6.2f}s")

        for attempt in (1, 2):
            start = time.perf_counter()
            result = evaluate_ava(gt, det, labels, exclusions=excluded)
            elapsed = time.perf_counter() - start
            print(
                f"evaluate (run {attempt}): {elapsed:6.2f}s  mAP@0.5IOU = {result.mAP:.6f}  "
                f"detections after cap: {int(result.num_detections.sum()):,}"
            )


if __name__ == "__main__":
    main()
