"""The ImageNet stand-in: pretrain the study's spatial encoder as an image ViT (issue 22).

Draws the synthetic image set (``training.synth.images``: 56 folders = main-subject
kind × colour, single frames of the bench scenes) if ``--images`` is missing, trains the
ViViT-Ti spatial encoder (3 layers, 192 dims, 12-px patches, 96 px) on it as an image
classifier on ONE core, and writes a timm-named image-ViT checkpoint
(``--out/model.safetensors`` + ``config.json`` with the val top-1 and kind accuracy) that
``cofin_sdk.init_from_vit`` loads; the summary also goes to ``experiments/results/``.

Two recipes, one per ``--init`` of the table scripts:

* ``image_shape`` (default): the 7 main-subject kinds only (colour is independent of the
  kind), full-range hue jitter and random greyscale, 1200 steps
  -> ``/work/exp_runs/image_vit_shape``, ``results/pretrain_image_vit_shape.json``;
* ``image``: the first stand-in, 56 kind × colour classes, 600 steps (it learned colour,
  not shape) -> ``/work/exp_runs/image_vit``, ``results/pretrain_image_vit.json``.

    python experiments/pretrain_image_vit.py [--init image_shape] [--steps N] [--commit]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import _common as C

from training.image_pretrain import PretrainConfig, pretrain
from training.synth.images import generate_images

SMOKE = {"per_class": {"train": 2, "val": 1}, "steps": 2, "batch_size": 8}


def run_pretraining(
    out: str,
    images: str = C.DEFAULT_IMAGES,
    steps: int | None = None,
    smoke: bool = False,
    workers: int = 1,
    init: str = "image_shape",
) -> dict:
    """Generate the image set if missing, pretrain with ``init``'s recipe, save; returns the summary."""
    if smoke:
        images = str(Path(out).parent / "synth_images")
    if not (Path(images) / "images_meta.json").is_file():
        C.logger.info("drawing the image set into %s", images)
        generate_images(images, SMOKE["per_class"] if smoke else None, seed=0, workers=workers)
    cfg = PretrainConfig(**C.VIT_INITS[init].recipe)
    if steps is not None:
        cfg.steps = steps
    if smoke:
        cfg.steps, cfg.batch_size = SMOKE["steps"], SMOKE["batch_size"]
    t0 = time.perf_counter()
    summary = pretrain(images, out, cfg)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["images"] = json.loads((Path(images) / "images_meta.json").read_text())
    return summary


def record(summary: dict, out: str, init: str, commit: bool) -> Path:
    """Write ``results/<init's summary>.json`` (and commit it with ``commit``)."""
    path = C.RESULTS / f"{C.VIT_INITS[init].summary}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary["checkpoint"] = str(Path(out) / "model.safetensors")
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"image ViT ({init}): val top-1 {100 * summary['val_top1']:.1f}% "
        f"(chance {100 * summary['chance']:.1f}%), kind accuracy "
        f"{100 * summary['val_kind_accuracy']:.1f}% (chance {100 * summary['kind_chance']:.1f}%), "
        f"{summary['wall_seconds']:.0f} s -> {summary['checkpoint']}",
        flush=True,
    )
    if commit:
        C.git_commit(
            [path], f"experiments: image-pretrained ViT, {init} ({summary['wall_seconds']:.0f} s)"
        )
    return path


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--images", default=C.DEFAULT_IMAGES, help="image set root (drawn if missing)")
    p.add_argument(
        "--init", choices=sorted(C.VIT_INITS), default="image_shape", help="recipe (see above)"
    )
    p.add_argument("--out", default=None, help="checkpoint folder (default: the init's)")
    p.add_argument(
        "--steps", type=int, default=None, help="optimiser steps (default: the recipe's)"
    )
    p.add_argument("--workers", type=int, default=1, help="processes drawing the image set")
    p.add_argument("--commit", action="store_true", help="git-commit the summary JSON")
    p.add_argument(
        "--results",
        default=None,
        help="folder holding results/ (default: experiments/ of this checkout)",
    )
    args = p.parse_args()
    if (args.steps is not None and args.steps < 1) or args.workers < 1:
        p.error("--steps and --workers must be >= 1")
    args.out = args.out or C.VIT_INITS[args.init].folder
    if args.results:
        C.RESULTS = Path(args.results) / "results"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    summary = run_pretraining(
        args.out, args.images, args.steps, workers=args.workers, init=args.init
    )
    record(summary, args.out, args.init, args.commit)


if __name__ == "__main__":
    main()
