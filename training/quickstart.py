"""``cofin quickstart``: the whole pipeline on generated data, with nothing prepared.

1. generate the ``tiny`` synthetic dataset (AVA-format detection + Kinetics/SSv2-format clips);
2. co-finetune a small ViViT on CPU (one dataset per minibatch, one head per dataset);
3. evaluate it (AVA frame-mAP with head/mid/tail, clip top-1/top-5) and plot per-class AP;
4. save it with ``save_pretrained``;
5. run ``Detector`` on a held-out video and write an annotated mp4 + JSON + AVA CSV.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "run_quickstart"]

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="generate data, co-finetune, evaluate, detect: end to end on CPU"
    )
    parser.add_argument(
        "--out", default="cofin_quickstart", help="output folder (default: ./cofin_quickstart)"
    )
    parser.add_argument(
        "--max-steps", type=int, default=None, help="cap training steps (quick smoke runs)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    summary = run_quickstart(
        args.out, max_steps=args.max_steps, seed=args.seed, progress=not args.no_progress
    )
    _print_summary(summary)
    return 0


def _config(out: Path, max_steps: int | None, seed: int, progress: bool) -> Any:
    from training.configs.base import load_config

    cfg = load_config("synthetic_tiny")[0]
    for d in cfg.datasets:
        d.root = str(out / "data" / d.kind)
    cfg.run.synth_preset = None  # generated explicitly below
    cfg.run.out_dir = str(out / "run")
    cfg.run.seed = seed
    cfg.run.progress = progress
    cfg.schedule.max_steps = max_steps
    return cfg


def run_quickstart(
    out: str | Path = "cofin_quickstart",
    *,
    max_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the five steps; returns what was made (paths and metrics)."""
    from cofin_sdk.models.record import read_model_record
    from training.synth import generate
    from training.trainer import train

    out = Path(out)
    start = time.perf_counter()
    data = out / "data"
    if not (data / "synth_meta.json").is_file():
        generate(data, preset="tiny", seed=seed)
    cfg = _config(out, max_steps, seed, progress)
    if (Path(cfg.run.out_dir) / "checkpoints").is_dir():
        raise ValueError(f"{cfg.run.out_dir} already holds a run: remove it or pass another --out")
    final = train(cfg)
    metrics = read_model_record(final).metadata["metrics"]
    demo = _detect_held_out(final, data, out / "demo", progress)
    eval_dir = max((Path(cfg.run.out_dir) / "eval").glob("step_*"))
    return {
        "out": out,
        "data": data,
        "model": final,
        "eval_dir": eval_dir,
        "metrics": metrics,
        **demo,
        "seconds": time.perf_counter() - start,
    }


def _detect_held_out(model_dir: Path, data: Path, out: Path, progress: bool) -> dict[str, Any]:
    """Detector on a validation (unseen) video, person boxes from its AVA-format CSV."""
    from cofin_sdk import AvaCsvBoxes, Detector

    meta = json.loads((data / "synth_meta.json").read_text())
    video_id = meta["ava"]["videos"]["val"][0]
    video = data / "ava" / "videos" / f"{video_id}.mp4"
    boxes = AvaCsvBoxes(
        data / "ava" / "annotations" / "ava_val_predicted_boxes.csv", video_id, time_offset=900
    )
    detector = Detector.from_pretrained(model_dir, person_detector=boxes, progress=progress)
    detections = detector.detect(video, threshold=0.3)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "annotated_video": out / f"{video_id}_annotated.mp4",
        "detections_json": out / f"{video_id}.json",
        "detections_csv": out / f"{video_id}_ava.csv",
    }
    detections.save_video(
        paths["annotated_video"], video, min_height=360
    )  # the tiny videos are 96×72
    detections.to_json(paths["detections_json"], indent=1)
    detections.to_ava_csv(paths["detections_csv"], timestamp_offset=900)
    return {**paths, "detections": detections, "video": video}


def _print_summary(s: dict[str, Any]) -> None:
    ava = s["metrics"].get("ava", {})
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(
        f"\ncofin quickstart finished in {s['seconds'] / 60:.1f} min; everything is in {s['out']}/"
    )
    print(f"  data           {s['data']}  (synthetic AVA + Kinetics + SSv2 formats)")
    print(f"  model          {s['model']}  (Detector.from_pretrained('{s['model']}'))")
    print(
        f"  AVA mAP@0.5    {fmt(ava.get('mAP'))}   head {fmt(ava.get('mAP_head'))}  mid {fmt(ava.get('mAP_mid'))}"
        f"  tail {fmt(ava.get('mAP_tail'))}"
    )
    for head, values in s["metrics"].items():
        if "top1" in values:
            print(f"  {head:<14} top-1 {values['top1']:.3f}  top-5 {values['top5']:.3f}")
    print(f"  eval files     {s['eval_dir']}  (detections CSV, metrics JSON, per-class AP plot)")
    det = s["detections"]
    print(
        f"  detect         {len(det)} person boxes on {len(det.keyframes())} keyframes of {s['video'].name}"
    )
    for key in ("annotated_video", "detections_json", "detections_csv"):
        print(f"  {key:<14} {s[key]}")
