"""Shared helpers for the miniature reproduction on the learnable ``bench2`` data (issue 13).

Every run is the ``synthetic_bench2`` recipe pointed at one generated ``bench2`` root,
on ONE CPU thread at low priority. Arms of a comparison differ only in the compared
factor (datasets / transfer-vs-co-finetune / sampler) and, across seeds, in
``run.seed`` (model init, dataset schedule, sample order, augmentation); the data is
always the same.

Step budget: every arm of a table trains the same number of optimiser steps at the same
global batch ("equal total data and equal steps"); epoch counts are derived from the
dataset sizes to hit that step count.

Resumable: each finished arm writes ``experiments/results/<table>/<arm key>.json``
(metrics, per-class AP, steps per head, wall time) and, with ``--commit``, commits it at
once. An arm whose JSON exists under any ``experiments/results/*/`` folder is not
retrained (tables share arms: Table 3 reuses Table 1's K + AVA runs), so a later session
on a fresh machine continues where the last one stopped.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _report import (  # noqa: E402,F401  (the table scripts use them as C.<name>)
    HEADS,
    ava_result,
    comparison_lines,
    fmt,
    fmt_ms,
    fmt_row,
    mean_per_class,
    mean_std,
    motion_split_lines,
    paired,
    table_lines,
    wall_lines,
)

from training.configs._synthetic import synthetic_datasets, transfer_stages  # noqa: E402
from training.configs.base import TrainConfig, apply_overrides, load_config  # noqa: E402

RESULTS = REPO / "experiments" / "results"
FIGURES = REPO / "experiments" / "figures"
PRESET = "synthetic_bench2"
DATA_PRESET = "bench2"
DEFAULT_DATA = "/work/exp_runs/synth_bench2"
DEFAULT_OUT = "/work/exp_runs/bench2"
DEFAULT_IMAGES = "/work/exp_runs/synth_images"
DEFAULT_VIT = "/work/exp_runs/image_vit"
#: ``--init`` choices and the arm-key suffix of each initialisation
INITS = {"random": "", "image": "_imgvit", "image_shape": "_imgshape"}
#: table-name suffix of each initialisation
INIT_TABLES = {"random": "", "image": "_pretrained", "image_shape": "_pretrained_shape"}
INIT_TITLES = {
    "random": "random init",
    "image": "image init (colour)",
    "image_shape": "image init (shape)",
}


@dataclass(frozen=True)
class VitInit:
    """An image-pretrained initialisation: its checkpoint folder, recipe and summary name.

    ``recipe`` overrides :class:`training.image_pretrain.PretrainConfig`.
    """

    folder: str
    recipe: dict
    summary: str


VIT_INITS = {
    # the first stand-in: 56 kind × colour classes, 600 steps; it learned colour, not shape
    "image": VitInit(
        DEFAULT_VIT,
        {"target": "class", "steps": 600, "lr": 1e-3, "pool": "avg", "head_init_std": 0.0},
        "pretrain_image_vit",
    ),
    # kind only (every kind in every colour equally often), max pool, AdamW 3e-4, 1200 steps
    "image_shape": VitInit("/work/exp_runs/image_vit_shape", {}, "pretrain_image_vit_shape"),
}
DEFAULT_STEPS = 700
SMOKE_STEPS = 2
BATCH = 16
SHORT = {"kinetics": "K", "mit": "MiT", "ssv2": "SSv2", "ava": "AVA"}
COMMON_OVERRIDES = [
    "run.num_workers=0",
    "run.progress=false",
    "run.tensorboard=false",
    "run.checkpoint_every=0",
    "run.keep_last=1",
    "run.device=cpu",
    f"run.global_batch_size={BATCH}",
]

logger = logging.getLogger("experiments")


# ---------------------------------------------------------------- command line


def parse_args(
    doc: str, default_seeds: list[int], default_steps: int = DEFAULT_STEPS
) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="+", default=default_seeds, help="run.seed values")
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help="run folders (checkpoints, eval) go here, outside the repo",
    )
    p.add_argument("--data", default=DEFAULT_DATA, help="generated bench2 root (made if missing)")
    p.add_argument(
        "--steps",
        type=int,
        default=default_steps,
        help="optimiser steps per arm (equal for all arms)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="extra config override for all arms",
    )
    p.add_argument(
        "--fresh", action="store_true", help="retrain even if the arm's results JSON exists"
    )
    p.add_argument(
        "--commit", action="store_true", help="git-commit each finished arm's JSON as it lands"
    )
    p.add_argument(
        "--only-summary", action="store_true", help="train nothing: summarise the arms already done"
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="TEXT",
        help="train only arms whose key contains one of these (run two processes in parallel)",
    )
    p.add_argument(
        "--results",
        default=None,
        help="folder holding results/ and figures/ (default: experiments/ of this checkout)",
    )
    p.add_argument(
        "--init",
        choices=sorted(INITS),
        default="random",
        help="random: random init; image / image_shape: the spatial encoder pretrained on "
        "the synthetic images for kind x colour / for shape (--vit, pretrained first if "
        "missing: experiments/pretrain_image_vit.py)",
    )
    p.add_argument(
        "--vit",
        default=None,
        help="folder of the image-pretrained ViT (model.safetensors) for --init image* "
        f"(default: {', '.join(f'{k}: {v.folder}' for k, v in VIT_INITS.items())})",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"every arm for {SMOKE_STEPS} steps on the tiny preset, into a temp folder",
    )
    args = p.parse_args()
    global RESULTS, FIGURES
    if args.smoke:
        tmp = Path(args.results or "/tmp/cofin_experiments_smoke")
        args.data, args.out, args.steps, args.commit = (
            str(tmp / "synth_tiny"),
            str(tmp / "runs"),
            SMOKE_STEPS,
            False,
        )
        args.results = str(tmp)
        # a 1+1-layer model on 4 frames at 48 px: the smoke run tests the plumbing, not learning
        args.overrides += [
            "model.overrides.spatial_depth=1",
            "run.num_frames=4",
            "run.image_size=48",
        ]
    if args.results:
        RESULTS, FIGURES = Path(args.results) / "results", Path(args.results) / "figures"
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ensure_data(args.data, "tiny" if args.smoke else DATA_PRESET)
    if args.init in VIT_INITS:
        if args.smoke:
            args.vit = str(tmp / f"image_vit{INITS[args.init]}")
        args.vit = args.vit or VIT_INITS[args.init].folder
        ensure_vit(args.vit, args.init, smoke=args.smoke, commit=args.commit)
        args.overrides = [*args.overrides, f"model.vit_init={Path(args.vit) / 'model.safetensors'}"]
    return args


def ensure_vit(folder: str, init: str, smoke: bool = False, commit: bool = False) -> None:
    """Pretrain ``init``'s image ViT into ``folder`` unless its ``model.safetensors`` exists."""
    if (Path(folder) / "model.safetensors").is_file():
        return
    from pretrain_image_vit import record, run_pretraining

    logger.info("no image-pretrained ViT in %s: pretraining it first", folder)
    record(run_pretraining(folder, init=init, smoke=smoke), folder, init, commit)


def table_name(base: str, args: argparse.Namespace) -> str:
    """``base`` (e.g. ``table1``), ``_steps<N>`` off the default length, the init's suffix
    (``_pretrained`` for --init image, ``_pretrained_shape`` for image_shape)."""
    name = base if args.steps in (DEFAULT_STEPS, SMOKE_STEPS) else f"{base}_steps{args.steps}"
    return name + INIT_TABLES[args.init]


def ensure_data(root: str, preset: str = DATA_PRESET) -> None:
    if not (Path(root) / "synth_meta.json").is_file():
        logger.info("generating the %s data into %s", preset, root)
        from training.synth import generate

        generate(root, preset=preset, seed=0, workers=1 if preset == "tiny" else 2)


# ---------------------------------------------------------------- arms


@dataclass(frozen=True)
class Arm:
    """One trained model of the study.

    Attributes:
        method: ``"cofin"`` (one co-finetuning run), ``"transfer"`` (upstream stage, then
            AVA finetune with a new head and optimiser) or ``"single"`` (one dataset).
        upstream: Upstream datasets (``"single"``: the one dataset, may be ``"ava"``).
        seed: ``run.seed``.
        steps: Total optimiser steps.
        sampler: ``sampler.kind`` of a co-finetuning run.
        init: a key of :data:`INITS` (``"image*"``: spatial encoder from an image-pretrained ViT).
    """

    method: str
    upstream: tuple[str, ...]
    seed: int
    steps: int
    sampler: str = "weighted"
    init: str = "random"

    @property
    def key(self) -> str:
        data = (
            "+".join(self.upstream)
            if self.method == "single"
            else "+".join(("ava",) + self.upstream)
        )
        sampler = f"_{self.sampler}" if self.method == "cofin" else ""
        init = INITS[self.init]
        return f"{self.method}_{data}{sampler}_steps{self.steps}{init}_seed{self.seed}"


def dataset_sizes(root: str, names: tuple[str, ...]) -> dict[str, int]:
    """Training-set sizes (samples) per head, as the trainer counts them."""
    from training.trainer import build_datasets

    det = "ava" in names
    cfg = load_config(PRESET)[0]
    cfg.datasets = synthetic_datasets(root, tuple(n for n in names if n != "ava"), detection=det)
    return {d.name: len(ds) for d, ds in zip(cfg.datasets, build_datasets(cfg, "train"))}


def _config(
    root: str,
    upstream: tuple[str, ...],
    detection: bool,
    seed: int,
    out_dir: str,
    sampler: str,
    extra: list[str],
) -> TrainConfig:
    cfg = load_config(PRESET)[0]
    cfg.datasets = synthetic_datasets(root, upstream, detection=detection)
    cfg.name = "_".join((("ava",) if detection else ()) + upstream)
    quota = "true" if sampler == "weighted" else "false"  # exact quota exists for weighted only
    apply_overrides(
        cfg,
        COMMON_OVERRIDES
        + [
            f"run.seed={seed}",
            f"run.out_dir={out_dir}",
            f"sampler.kind={sampler}",
            f"sampler.exact_quota={quota}",
        ]
        + extra,
    )
    return cfg


def set_steps(cfg: TrainConfig, steps: int, total_samples: int) -> None:
    """Choose ``schedule.epochs`` so the run is exactly ``steps`` optimiser steps long."""
    per_epoch = max(1, total_samples // cfg.run.global_batch_size)
    cfg.schedule.epochs = steps / per_epoch
    cfg.schedule.warmup_epochs = 0.1 * steps / per_epoch  # warm-up = 10% of the run in every arm
    assert max(1, round(cfg.schedule.epochs * per_epoch)) == steps


def arm_stages(arm: Arm, args: argparse.Namespace) -> tuple[list[TrainConfig], dict[str, int]]:
    """The training config(s) of an arm and the dataset sizes they use."""
    out_dir = f"{args.out}/{arm.key}"
    if arm.method == "single":
        name = arm.upstream[0]
        det = name == "ava"
        sizes = dataset_sizes(args.data, arm.upstream)
        cfg = _config(
            args.data,
            () if det else arm.upstream,
            det,
            arm.seed,
            out_dir,
            "weighted",
            args.overrides,
        )
        set_steps(cfg, arm.steps, sizes[name])
        return [cfg], sizes
    sizes = dataset_sizes(args.data, ("ava",) + arm.upstream)
    cfg = _config(args.data, arm.upstream, True, arm.seed, out_dir, arm.sampler, args.overrides)
    if arm.method == "cofin":
        set_steps(cfg, arm.steps, sum(sizes.values()))
        return [cfg], sizes
    # transfer: the upstream stage gets the upstream share of the steps (= its share under
    # weighted co-finetuning), the AVA finetune the rest
    up = sum(sizes[n] for n in arm.upstream)
    steps_up = round(arm.steps * up / (up + sizes["ava"]))
    stages = transfer_stages(copy.deepcopy(cfg), 1.0, 1.0)
    set_steps(stages[0], steps_up, up)
    set_steps(stages[1], arm.steps - steps_up, sizes["ava"])
    return stages, sizes


def steps_per_head(stages: list[TrainConfig], sizes: dict[str, int]) -> dict[str, int]:
    """How many optimiser steps each head gets (from the trainer's own schedule)."""
    from training.samplers import CofinetuneSchedule

    counts: dict[str, int] = {}
    for cfg in stages:
        names = [d.name for d in cfg.datasets]
        total = sum(sizes[n] for n in names)
        steps = max(1, round(cfg.schedule.epochs * max(1, total // cfg.run.global_batch_size)))
        sched = CofinetuneSchedule(
            [sizes[n] for n in names],
            cfg.run.global_batch_size,
            cfg.sampler.kind,
            cfg.run.seed,
            exact_quota=cfg.sampler.exact_quota,
        )
        for s in range(steps):
            n = names[sched.dataset_at(s)]
            counts[n] = counts.get(n, 0) + 1
    return counts


def _final_metrics(out_dir: Path) -> dict[str, Any]:
    from cofin_sdk.models.record import read_model_record

    return read_model_record(out_dir / "final").metadata.get("metrics", {})


def _per_class(run_dir: Path) -> list[dict[str, Any]]:
    evals = sorted((run_dir / "eval").glob("step_*"))
    data = json.loads((evals[-1] / "ava_ava_metrics.json").read_text())
    return [
        {
            "name": c["name"],
            "group": c["group"],
            "train_count": c["train_count"],
            "ap": c["ap"],
            "num_groundtruth": c["num_groundtruth"],
        }
        for c in data["classes"]
    ]


def _train(cfg: TrainConfig) -> float:
    """Train one stage; resumes from its last checkpoint if an earlier process died."""
    from training.checkpoint import latest_checkpoint
    from training.trainer import train

    d = Path(cfg.run.out_dir)
    last = latest_checkpoint(d / "checkpoints") if (d / "checkpoints").is_dir() else None
    t0 = time.perf_counter()
    if last is not None and (d / "config.json").is_file():
        before = (
            last.stat().st_mtime - (d / "config.json").stat().st_mtime
        )  # wall time already spent
        logger.info("resuming %s from %s", d, last)
        train(cfg, resume=True)
        return before + time.perf_counter() - t0
    if d.exists():
        shutil.rmtree(d)  # an interrupted run without checkpoint: start over
    train(cfg)
    return time.perf_counter() - t0


def find_arm(key: str) -> Path | None:
    hits = sorted(RESULTS.glob(f"*/{key}.json"))
    return hits[0] if hits else None


def run_arm(arm: Arm, args: argparse.Namespace, table: str) -> dict[str, Any]:
    """Train one arm (or load its committed JSON); returns its record.

    The arm takes the initialisation of ``args.init`` (its key says so), so every table
    script runs from either init without knowing about it.
    """
    if arm.init != args.init:
        arm = dataclasses.replace(arm, init=args.init)
    found = None if args.fresh else find_arm(arm.key)
    if found is not None:
        return json.loads(found.read_text())
    if args.only_summary or (args.only and not any(t in arm.key for t in args.only)):
        return {}
    stages, sizes = arm_stages(arm, args)
    walls = [_train(cfg) for cfg in stages]
    metrics = [_final_metrics(Path(cfg.run.out_dir)) for cfg in stages]
    final = metrics[-1]
    record: dict[str, Any] = {
        "key": arm.key,
        "method": arm.method,
        "upstream": list(arm.upstream),
        "seed": arm.seed,
        "steps": arm.steps,
        "sampler": arm.sampler,
        "init": arm.init,
        "dataset_sizes": sizes,
        "steps_per_head": steps_per_head(stages, sizes),
        "stage_wall_s": walls,
        "wall_s": sum(walls),
        "overrides": args.overrides,
        "row": summary_row(final, metrics[0] if arm.method == "transfer" else None),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    if "ava" in final:
        record["per_class"] = _per_class(Path(stages[-1].run.out_dir))
    path = RESULTS / table / f"{arm.key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"[{table}] {arm.key}: {fmt_row(record['row'])} ({record['wall_s']:.0f} s)", flush=True)
    if args.commit:
        git_commit([path], f"experiments: {table} arm {arm.key} ({record['wall_s']:.0f} s)")
    return record


def git_commit(paths: list[Path], message: str) -> None:
    """Commit only ``paths`` (other engineers share the working tree); retry on index.lock."""
    files = [str(Path(p).resolve()) for p in paths]
    repo = Path(files[0]).parent  # the results' repo (scripts may run from a code snapshot)
    for _ in range(20):
        add = subprocess.run(["git", "add", *files], cwd=repo, capture_output=True, text=True)
        if add.returncode == 0:
            done = subprocess.run(
                ["git", "commit", "-m", message, "--", *files],
                cwd=repo,
                capture_output=True,
                text=True,
            )
            if done.returncode == 0 or "nothing to commit" in done.stdout:
                return
            err = done.stderr
        else:
            err = add.stderr
        if "index.lock" not in err:
            logger.warning("git commit failed: %s", err.strip())
            return
        time.sleep(3)


def summary_row(
    metrics: dict[str, Any], upstream_metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Flat row: AVA overall/head/mid/tail mAP and top-1 of each classification head.

    For the transfer baseline the top-1 values are its upstream stage's (the finetuned
    model has no upstream head).
    """
    ava = metrics.get("ava", {})
    row = {k: ava.get(k) for k in ("mAP", "mAP_head", "mAP_mid", "mAP_tail")} if ava else {}
    for head, m in {**(upstream_metrics or {}), **metrics}.items():
        if "top1" in m:
            row[f"{head}_top1"] = m["top1"]
    return row


# ---------------------------------------------------------------- reports (statistics: _report.py)


def plot_difference(
    base: list[dict], other: list[dict], name: str, labels: tuple[str, str]
) -> Path | None:
    """Per-class AP difference figure (paper Fig. 1) of seed-averaged per-class AP."""
    if not any(r.get("per_class") for r in base) or not any(r.get("per_class") for r in other):
        return None
    from training.evaluation.plots import plot_ap_difference

    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.png"
    plot_ap_difference(
        ava_result(mean_per_class(base)), ava_result(mean_per_class(other)), path, labels=labels
    )
    return path


def arm_label(arm: Arm) -> str:
    data = " + ".join(SHORT[u] for u in arm.upstream)
    if arm.method == "transfer":
        return f"{data} → AVA (transfer)"
    if arm.method == "single":
        return f"{data} only"
    return f"{data} + AVA ({arm.sampler})"


def write_summary(table: str, payload: dict[str, Any], markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{table}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (RESULTS / f"{table}.md").write_text(markdown + "\n")
    print(markdown)


def settings_text(steps: int, init: str = "random") -> str:
    return (
        f"{steps} optimiser steps per arm at global batch {BATCH} ({steps * BATCH} clips); "
        "ViViT-Ti FE (3 spatial + 1 temporal layers, drop-path 0.1, 4×12×12 tubelets), 96 px, 8 frames "
        "stride 2 (10 fps), SGD momentum 0.9, lr 0.025 (paper's 0.2 at batch 128, linearly scaled), "
        "grad-norm clip 1.0, 10% warm-up then cosine, label smoothing 0.1, "
        + (
            "random init, "
            if init == "random"
            else f"spatial encoder from the image-pretrained ViT ({INIT_TITLES[init]}; "
            "central-frame inflation; experiments/pretrain_image_vit.py), "
        )
        + "weighted sampling with exact quotas unless stated, 1 CPU thread"
    )


def shared_motions(root: str, upstream: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """AVA classes whose motion appears in an ``upstream`` class (synth_meta
    ``class_dependencies``), and the evaluated AVA classes."""
    meta = json.loads((Path(root) / "synth_meta.json").read_text())
    deps = meta.get("class_dependencies", {})
    shared = {
        m for d in upstream for c in deps.get(d, {}).values() for m in c["shares_motion_with_ava"]
    }
    return shared, list(meta["ava"]["evaluated"])
