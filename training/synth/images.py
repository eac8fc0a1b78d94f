"""An image-classification set drawn by the video generator: the ImageNet stand-in (issue 22).

The paper initialises ViViT from an ImageNet-21K image ViT. Here the stand-in is a
set of single frames drawn with the same code as the bench videos (``scenes``,
``actors``, ``layout``): a random backdrop (texture, clutter, sometimes a landmark),
0-2 distractor actors in random poses, and ONE main subject. A class is the main
subject's *kind* and *colour*: one of the six object shapes of ``scenes.draw_shape``
or a person, in one of the eight ``ACTOR_PALETTE`` colours (7 × 8 = 56 classes).

What the labels do NOT encode (so pretraining teaches appearance and shape, not the
video tasks' labels): no class is a pose, an action, a motion, a scene type or a
landmark. Poses and add-ons of every actor are drawn uniformly over all of them,
backdrop colours are random muted colours (never the ``SCENE_COLORS`` cue table),
landmarks appear with probability 0.5 with a random kind, all independently of the
class. A single frame has no motion, so the motion that defines every AVA-, Kinetics-,
Moments- and SSv2-like label is absent. Distractors never wear the main subject's colour.

The folders keep kind × colour; a pretraining run may learn the kind alone, with colour
drawn independently of it (every kind comes in every colour equally often): the
``target="kind"`` recipe of :mod:`training.image_pretrain`.

Layout written (torchvision ``ImageFolder``, JPEG quality 80 as ImageNet's JPEGs)::

    root/train/<class>/<index>.jpg   root/val/<class>/<index>.jpg   root/images_meta.json

Every image draws from its own ``SeedSequence([seed, split, index])``, so the output does
not depend on the number of workers.

Example:
    >>> from training.synth.images import CLASSES
    >>> len(CLASSES), CLASSES[0]
    (56, 'box_0')
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.synth.actors import Actor
from training.synth.layout import sample_solo_addons, solo_actor
from training.synth.scenes import ACTOR_PALETTE, Shot, draw_shape, make_backdrop, render_frame
from training.synth.taxonomy import ADDONS, LANDMARKS, POSE_WEIGHTS

__all__ = ["CLASSES", "KINDS", "generate_images", "kind_of", "render_image"]

logger = logging.getLogger(__name__)

SHAPES: tuple[str, ...] = ("box", "ball", "cup", "book", "bottle", "tri")
KINDS: tuple[str, ...] = (*SHAPES, "person")
CLASSES: tuple[str, ...] = tuple(f"{k}_{c}" for k in KINDS for c in range(len(ACTOR_PALETTE)))
WIDTH, HEIGHT = 96, 72  # the bench2 frame size
JPEG_QUALITY = 80
_SPLITS = {"train": 0, "val": 1}
_SOLO_ADDONS = tuple(a for a, spec in ADDONS.items() if not spec.pair)


def kind_of(class_name: str) -> str:
    """The main-subject kind of an image class (``"bottle_3"`` → ``"bottle"``)."""
    kind = class_name.rsplit("_", 1)[0]
    if kind not in KINDS:
        raise ValueError(f"{class_name!r} is not an image class (kinds: {', '.join(KINDS)})")
    return kind


def _jitter(rng: np.random.Generator, color: tuple[int, int, int]) -> tuple[int, int, int]:
    c = np.clip(np.array(color) + rng.integers(-20, 21, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def _random_actor(
    rng: np.random.Generator, pid: int, color: tuple[int, int, int], scale: float
) -> Actor:
    """An actor in a pose drawn uniformly over all poses, with random solo add-ons."""
    pose = str(rng.choice(sorted(POSE_WEIGHTS)))
    addons = sample_solo_addons(rng, pose, _SOLO_ADDONS, 0, int(rng.integers(0, 3)))
    actor = solo_actor(
        rng,
        pid,
        color,
        pose,
        addons,
        (),
        (0.2 * WIDTH, 0.8 * WIDTH),
        (WIDTH, HEIGHT),
        event_time=float(rng.uniform(-0.5, 1.5)),  # a fall caught at any stage
        scale=scale,
    )
    actor.ground_y = float(np.clip(actor.ground_y, 0.5 * HEIGHT, HEIGHT - 1))
    return actor


def render_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """One ``(HEIGHT, WIDTH, 3)`` uint8 RGB image of class ``CLASSES[label]``."""
    kind, colour = KINDS[label // len(ACTOR_PALETTE)], label % len(ACTOR_PALETTE)
    others = [c for i, c in enumerate(ACTOR_PALETTE) if i != colour]
    landmark = str(rng.choice(LANDMARKS)) if rng.uniform() < 0.5 else ""
    backdrop = make_backdrop(rng, WIDTH, HEIGHT, landmark=landmark)
    actors = [
        _random_actor(rng, i + 1, others[int(rng.integers(len(others)))], 1.0)
        for i in range(int(rng.integers(0, 3)))
    ]
    if kind == "person":  # the main actor: AVA-like size (bench2's ava_actor_scale)
        actors.append(_random_actor(rng, 0, _jitter(rng, ACTOR_PALETTE[colour]), 1.6))
    t = float(rng.uniform(0, 3))
    frame, _ = render_frame(backdrop, Shot(0.0, 10.0, actors), t, WIDTH, HEIGHT)
    if kind != "person":
        size = float(rng.uniform(0.08, 0.16) * HEIGHT)
        centre = rng.uniform([0.25 * WIDTH, 0.3 * HEIGHT], [0.75 * WIDTH, 0.8 * HEIGHT])
        angle = float(rng.uniform(-0.6, 0.6))
        draw_shape(frame, kind, centre, size, angle, _jitter(rng, ACTOR_PALETTE[colour]))
    return frame


def _image_task(job: tuple[int, int, int, int, str]) -> None:
    seed, split_code, index, label, path = job
    rng = np.random.default_rng(np.random.SeedSequence([seed, split_code, index]))
    image = render_image(label, rng)
    cv2.imwrite(
        path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )


def generate_images(
    root: str | Path,
    per_class: dict[str, int] | None = None,
    seed: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    """Write the image set under ``root``; returns (and writes) ``images_meta.json``.

    Args:
        root: Output folder (created).
        per_class: Images per class per split, default ``{"train": 160, "val": 30}``.
        seed: Base seed.
        workers: Processes drawing images.
    """
    per_class = per_class or {"train": 160, "val": 30}
    root = Path(root)
    jobs = []
    for split, n in per_class.items():
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for k in range(n):
                index = label * n + k
                path = root / split / name / f"{index:06d}.jpg"
                jobs.append((seed, _SPLITS[split], index, label, str(path)))
    t0 = time.perf_counter()
    if workers <= 1:
        for job in jobs:
            _image_task(job)
    else:
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            pool.map(_image_task, jobs, chunksize=64)
    meta = {
        "classes": list(CLASSES),
        "kinds": list(KINDS),
        "palette": [list(c) for c in ACTOR_PALETTE],
        "per_class": per_class,
        "size": [WIDTH, HEIGHT],
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
        "label": "main subject kind (6 object shapes or person) x colour (ACTOR_PALETTE index); "
        "poses, add-ons, backdrop colour, landmark, clutter and distractors are random and "
        "independent of the label",
    }
    (root / "images_meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    logger.info("wrote %d images to %s in %.0f s", len(jobs), root, meta["seconds"])
    return meta


def main(argv: list[str] | None = None) -> None:
    """``python -m training.synth.images --out DIR``: write the image set."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--train-per-class", type=int, default=160)
    p.add_argument("--val-per-class", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args(argv)
    if a.train_per_class < 1 or a.val_per_class < 1 or a.workers < 1:
        p.error("--train-per-class, --val-per-class and --workers must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    generate_images(a.out, {"train": a.train_per_class, "val": a.val_per_class}, a.seed, a.workers)


if __name__ == "__main__":
    main()
