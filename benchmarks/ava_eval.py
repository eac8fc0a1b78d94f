"""AVA evaluator speed: ``cofin eval-ava`` against the official ActivityNet script.

Generates an AVA-format input (default 24 videos x 800 keyframes = 19,200 keyframes,
~5.2M detection rows; ``--videos 64 --keyframes 897`` is AVA v2.2 val size): 1-6 people
per keyframe (mean 3.5), ground truth with 1-3 of the 80 actions per person, and
detections with a score in [0, 1] (``%.6f``, so tied scores occur) for each of the 60
evaluated classes per person box plus one spurious box per keyframe. Then:

1. in-process, our reader (``cofin_sdk.formats.ava``) and the evaluation core are timed
   separately (the evaluation twice, to show it is stable);
2. with ``--official DIR`` (a checkout of ActivityNet's ``Evaluation/`` folder:
   ``get_ava_performance.py`` and its ``ava/`` package), the official script and
   ``cofin eval-ava`` each run end to end as subprocesses on the same files (process
   start to printed mAP), and the benchmark prints both times, their ratio and the
   largest per-class |AP difference| (parsed from both outputs).

The official code is run unmodified through a runtime shim (written to the temp dir):
its ``ava/`` modules use Python 2 implicit relative imports (``import metrics``), so
``DIR/ava`` goes on ``sys.path``, and they use the numpy aliases removed in numpy 1.24
(``np.bool``, ``np.float``), which the shim defines as ``bool`` and ``float``. The
protocol follows the checkout: a ``get_ava_performance.py`` that takes ``--exclusions``
is the 2019 version (excluded keyframes), otherwise the 2020 one (keyframe-only rows in
the ground truth instead; ``cofin eval-ava --mode 2020``).

Example::

    python benchmarks/ava_eval.py                                  # ours only
    python benchmarks/ava_eval.py --official /tmp/activitynet/Evaluation
    python benchmarks/ava_eval.py --videos 64 --keyframes 897      # AVA-val size
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from training.evaluation.ava import evaluate_ava, read_ava_csv, read_exclusions, read_label_map

EVALUATED = [1, *range(3, 16), 17, 20, 22, 24, *range(26, 31), 34, *range(36, 39), 41, 43,
             *range(45, 50), 51, 52, 54, *range(56, 71), *range(72, 75), *range(76, 81)]  # fmt: skip
EMPTY_EVERY = 97  # every 97th keyframe is excluded (2019) / has no actions (2020)

OFFICIAL_SHIM = '''"""Runs ActivityNet's get_ava_performance.py unmodified on Python 3 / numpy >= 1.24."""
import runpy, sys
import numpy
for name, value in (("bool", bool), ("float", float), ("int", int), ("object", object)):
    if name not in numpy.__dict__:
        setattr(numpy, name, value)  # aliases removed in numpy 1.24
official = sys.argv.pop(1)
sys.path[:0] = [official, official + "/ava"]  # its ava/ modules import each other by bare name
sys.argv[0] = official + "/get_ava_performance.py"
runpy.run_path(sys.argv[0], run_name="__main__")
'''


# --------------------------------------------------------------------------- data


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, 4]`` random normalised boxes x1, y1, x2, y2."""
    centre = rng.uniform(0.2, 0.8, (n, 2))
    size = rng.uniform(0.1, 0.4, (n, 2))
    return np.clip(np.concatenate([centre - size / 2, centre + size / 2], axis=1), 0.0, 1.0)


def _video_rows(
    rng: np.random.Generator, video: str, num_keyframes: int, mode: str
) -> tuple[str, str]:
    """Ground-truth and detection CSV text for one video."""
    gt_lines, det_lines = [], []
    class_prior = rng.dirichlet(np.full(80, 0.3))  # long-tailed action frequencies
    for index, second in enumerate(range(902, 902 + num_keyframes)):
        people = _boxes(rng, int(rng.integers(1, 7)))
        actions_of = {}
        for person, box in enumerate(people):
            coords = ",".join(f"{v:.3f}" for v in box)
            actions = rng.choice(80, int(rng.integers(1, 4)), replace=False, p=class_prior) + 1
            gt_lines += [f"{video},{second:04d},{coords},{a},{person}\n" for a in actions]
            actions_of[tuple(box)] = actions
        if mode == "2020" and index % EMPTY_EVERY == 0:
            gt_lines = gt_lines[: len(gt_lines) - sum(len(a) for a in actions_of.values())]
            gt_lines.append(f"{video},{second:04d}\n")  # a keyframe without actions
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
            hit = np.isin(EVALUATED, actions_of.get(tuple(box), ()))
            scores[hit] = 0.5 + 0.5 * scores[hit]  # a weak "model", scores stay in [0, 1]
            det_lines.append("".join(f"{prefix}{c},{s:.6f}\n" for c, s in zip(EVALUATED, scores)))
    return "".join(gt_lines), "".join(det_lines)


def write_dataset(
    root: Path, num_videos: int, num_keyframes: int, seed: int = 0, mode: str = "2019"
) -> dict[str, Path]:
    """Writes gt.csv, det.csv, excluded.csv (2019) and the 2019 label map under ``root``."""
    rng = np.random.default_rng(seed)
    paths = {name: root / f"{name}.csv" for name in ("gt", "det", "excluded")}
    paths["labelmap"] = root / "labelmap.pbtxt"
    with open(paths["gt"], "w") as gt_file, open(paths["det"], "w") as det_file:
        for v in range(num_videos):
            gt_text, det_text = _video_rows(rng, f"video{v:03d}_xx", num_keyframes, mode)
            gt_file.write(gt_text)
            det_file.write(det_text)
    excluded = [
        f"video{v:03d}_xx,{s:04d}\n"
        for v in range(num_videos)
        for s in range(902, 902 + num_keyframes, EMPTY_EVERY)
    ]
    paths["excluded"].write_text("".join(excluded) if mode == "2019" else "")
    paths["labelmap"].write_text(
        "".join(
            f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
            for i in EVALUATED
        )
    )
    return paths


def _dataset(args: argparse.Namespace, tmp: Path) -> dict[str, Path]:
    """Generates the files, or reuses those in ``--data`` made with the same options."""
    root = Path(args.data) if args.data else tmp
    root.mkdir(parents=True, exist_ok=True)
    meta = {
        "videos": args.videos,
        "keyframes": args.keyframes,
        "seed": args.seed,
        "mode": args.mode,
    }
    names = ("gt", "det", "excluded")
    paths = {name: root / f"{name}.csv" for name in names} | {"labelmap": root / "labelmap.pbtxt"}
    meta_path = root / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        print(f"reusing the files in {root}")
        return paths
    start = time.perf_counter()
    paths = write_dataset(root, args.videos, args.keyframes, args.seed, args.mode)
    meta_path.write_text(json.dumps(meta))
    print(f"generated the files in {time.perf_counter() - start:.1f}s")
    return paths


# --------------------------------------------------------------------------- in-process timing


def time_in_process(paths: dict[str, Path], mode: str) -> None:
    """Our reader and evaluation core, timed separately."""
    start = time.perf_counter()
    markers = mode == "2020"
    gt = read_ava_csv(paths["gt"], kind="groundtruth", max_class_id=80, allow_markers=markers)
    read_gt = time.perf_counter() - start
    start = time.perf_counter()
    det = read_ava_csv(paths["det"], kind="detections", max_class_id=80)
    read_det = time.perf_counter() - start
    labels, _ = read_label_map(paths["labelmap"])
    excluded = read_exclusions(paths["excluded"]) if mode == "2019" else []
    print(f"read ground truth: {len(gt):>11,} rows in {read_gt:6.2f}s")
    print(f"read detections:   {len(det):>11,} rows in {read_det:6.2f}s")
    for attempt in (1, 2):
        start = time.perf_counter()
        result = evaluate_ava(gt, det, labels, exclusions=excluded, mode=mode)
        elapsed = time.perf_counter() - start
        print(
            f"evaluate (run {attempt}): {elapsed:6.2f}s  mAP@0.5IOU = {result.mAP:.6f}  "
            f"detections after cap: {int(result.num_detections.sum()):,}"
        )


# --------------------------------------------------------------------------- end to end


def official_mode(official: Path) -> str:
    """2019 if this checkout's script takes an exclusions file, else 2020."""
    script = official / "get_ava_performance.py"
    if not script.is_file() or not (official / "ava").is_dir():
        raise SystemExit(f"--official {official}: expected get_ava_performance.py and ava/ there")
    return "2019" if "exclusions" in script.read_text() else "2020"


def _run(command: list[str], stdout_path: Path) -> float:
    """Runs ``command`` (stdout to a file, stderr dropped); returns the wall time."""
    start = time.perf_counter()
    with open(stdout_path, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return elapsed


_OFFICIAL_AP = re.compile(
    r"""(['"])PascalBoxes_PerformanceByCategory/AP@0\.5IOU/(.*)\1: (\S+?),?\s*}?$"""
)
_OFFICIAL_MAP = re.compile(r"PascalBoxes_Precision/mAP@0\.5IOU['\"]: (\S+?),?\s*}?$")


def parse_official(text: str) -> tuple[dict[str, float], float]:
    """Per-class AP (by class name) and mAP from the official script's pprint output."""
    aps = {}
    for line in text.splitlines():
        match = _OFFICIAL_AP.search(line)
        if match:
            aps[match.group(2)] = float(match.group(3))
    found = [float(m.group(1)) for line in text.splitlines() if (m := _OFFICIAL_MAP.search(line))]
    if not aps or not found:
        raise SystemExit("could not find per-class APs and the mAP in the official output")
    return aps, found[0]


def max_ap_difference(official: dict[str, float], ours: dict[str, float]) -> float:
    """Largest |AP difference| over classes (NaN on both sides counts as equal)."""
    if set(official) != set(ours):
        raise SystemExit(f"class names differ: {sorted(set(official) ^ set(ours))[:5]}")
    worst = 0.0
    for name, value in official.items():
        both_nan = math.isnan(value) and math.isnan(ours[name])
        worst = max(worst, 0.0 if both_nan else abs(value - ours[name]))
    return worst


def compare_end_to_end(
    paths: dict[str, Path], official: Path, mode: str, tmp: Path, cofin_runs: int
) -> None:
    shim = tmp / "run_official.py"
    shim.write_text(OFFICIAL_SHIM)
    files = ["-l", paths["labelmap"], "-g", paths["gt"], "-d", paths["det"]]
    official_cmd = [sys.executable, shim, official, *files]
    cofin_cmd = [sys.executable, "-m", "cofin_sdk.cli.main", "eval-ava", "--labelmap",
                 paths["labelmap"], "--groundtruth", paths["gt"], "--detections", paths["det"],
                 "--mode", mode, "--json", tmp / "cofin.json"]  # fmt: skip
    if mode == "2019":
        official_cmd += ["-e", paths["excluded"]]
        cofin_cmd += ["--exclusions", paths["excluded"]]
    official_cmd, cofin_cmd = [list(map(str, c)) for c in (official_cmd, cofin_cmd)]
    print(f"\nend to end, {mode} protocol (process start to printed mAP):")
    print("  official: " + " ".join(official_cmd))
    print("  cofin:    " + " ".join(cofin_cmd))
    cofin_times = [_run(cofin_cmd, tmp / "cofin.out")]
    official_time = _run(official_cmd, tmp / "official.out")
    cofin_times += [_run(cofin_cmd, tmp / "cofin.out") for _ in range(cofin_runs - 1)]
    official_aps, official_map = parse_official((tmp / "official.out").read_text())
    data = json.loads((tmp / "cofin.json").read_text())
    ours = {c["name"]: math.nan if c["ap"] is None else c["ap"] for c in data["classes"]}
    cofin_time = statistics.median(cofin_times)
    runs = ", ".join(f"{t:.2f}" for t in cofin_times)
    print(f"official get_ava_performance.py: {official_time:8.2f}s")
    print(f"cofin eval-ava:                  {cofin_time:8.2f}s  (median of {runs})")
    print(f"ratio official / cofin:          {official_time / cofin_time:8.1f}x")
    print(
        f"max per-class |AP difference|:   {max_ap_difference(official_aps, ours):.3g} over "
        f"{len(ours)} classes; mAP official {official_map!r}, cofin {data['mAP@0.5IOU']!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--keyframes", type=int, default=800, help="keyframes per video")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--official", metavar="DIR", help="ActivityNet Evaluation/ folder: also run it end to end"
    )
    parser.add_argument(
        "--mode",
        choices=["2019", "2020"],
        help="protocol (default: the --official version's, else 2019)",
    )
    parser.add_argument("--cofin-runs", type=int, default=3, help="end-to-end cofin runs (median)")
    parser.add_argument(
        "--data", metavar="DIR", help="keep the generated files here (and reuse them)"
    )
    args = parser.parse_args()
    official = Path(args.official).resolve() if args.official else None
    args.mode = args.mode or (official_mode(official) if official else "2019")
    with tempfile.TemporaryDirectory() as tmp:
        paths = _dataset(args, Path(tmp))
        with open(paths["det"], "rb") as handle:
            rows = sum(1 for _ in handle)
        print(
            f"{args.videos * args.keyframes:,} keyframes, {rows:,} detection rows "
            f"({paths['det'].stat().st_size / 1e6:.0f} MB), protocol {args.mode}"
        )
        time_in_process(paths, args.mode)
        if official is None:
            print(
                "\n--official DIR not given: skipping the side-by-side run of the official script"
            )
            return
        compare_end_to_end(paths, official, args.mode, Path(tmp), args.cofin_runs)


if __name__ == "__main__":
    main()
