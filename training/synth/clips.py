"""Upstream clip-classification clips: Kinetics-like, Moments-like, SSv2-like.

Kinetics-like and Moments-like clips reuse the AVA actors and backdrops (the
shared motion primitives are what co-finetuning can transfer); Moments-like
classes are coarser and also have object-only versions ("rotating" is a
spinning actor *or* a spinning box). SSv2-like clips are a different domain:
a hand manipulating an object on a table (see ``manipulation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth.layout import pair_actors, solo_actor
from training.synth.manipulation import render_manipulation
from training.synth.scenes import (
    ACTOR_PALETTE,
    PROP_COLORS,
    Shot,
    draw_objects,
    make_backdrop,
    render_frame,
)
from training.synth.taxonomy import (
    ADDONS,
    KINETICS_SPECS,
    MIT_SPECS,
    SCENE_COLORS,
    SSV2_OBJECTS,
    SSV2_TEMPLATES,
    AppearanceCue,
    ClipSpec,
)

__all__ = ["ClipTask", "render_clip"]


@dataclass(frozen=True)
class ClipTask:
    """One upstream clip to render.

    Attributes:
        dataset: ``"kinetics"``, ``"mit"`` or ``"ssv2"``.
        label: Class name (Kinetics/MiT) or SSv2 template.
        placeholder: SSv2 object placeholder (e.g. ``"a cup"``); ``""`` otherwise.
        cue: The class's appearance cue (Kinetics/MiT with ``appearance_cues > 0``).
        cue_prob: Probability that each element of ``cue`` is shown.
        object_scale: SSv2-like object and hand size multiplier.
    """

    dataset: str
    label: str
    width: int
    height: int
    fps: int
    duration: int
    placeholder: str = ""
    cue: AppearanceCue | None = None
    cue_prob: float = 0.0
    object_scale: float = 1.0


def _actor_shot(
    rng: np.random.Generator, spec: ClipSpec, task: ClipTask, clothing: int | None = None
) -> Shot:
    size = (task.width, task.height)
    order = [int(i) for i in rng.permutation(len(ACTOR_PALETTE))]
    if clothing is not None:  # the main actor wears the class colour
        order.remove(clothing)
        order.insert(0, clothing)
    colors = [ACTOR_PALETTE[i] for i in order[:3]]
    pair = next((a for a in spec.addons if ADDONS[a].pair), None)
    event = float(rng.uniform(0.3, 0.6) * task.duration)
    if pair is not None:
        agent, partner = pair_actors(
            rng,
            (0, 1),
            (colors[0], colors[1]),
            pair,
            spec.pose,
            (pair,),
            (0.3 * task.width, 0.7 * task.width),
            size,
        )
        return Shot(0.0, float(task.duration), [agent, partner])
    count = int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1])) if spec.group else 1
    actors = []
    for i in range(count):
        slot = (task.width * i / count, task.width * (i + 1) / count)
        actors.append(
            solo_actor(rng, i, colors[i], spec.pose, spec.addons, spec.addons, slot, size, event)
        )
    return Shot(0.0, float(task.duration), actors)


def _object_params(rng: np.random.Generator, task: ClipTask) -> dict:
    colors = rng.permutation(len(ACTOR_PALETTE))[:2]
    return {
        "start": (
            float(rng.uniform(0.25, 0.75) * task.width),
            float(rng.uniform(0.35, 0.75) * task.height),
        ),
        "size": float(rng.uniform(0.07, 0.12) * task.height),
        "color": ACTOR_PALETTE[int(colors[0])],
        "color2": ACTOR_PALETTE[int(colors[1])] if rng.uniform() < 0.7 else PROP_COLORS[0],
        "kind": str(rng.choice(["box", "ball", "tri", "book"])),
        "direction": int(rng.choice([-1, 1])),
    }


def _shown_cues(rng: np.random.Generator, task: ClipTask) -> tuple[dict, int | None]:
    """Backdrop kwargs and clothing index for the cues this clip shows (none without a cue)."""
    if task.cue is None:
        return {}, None
    scene, clothing, landmark = rng.uniform(size=3) < task.cue_prob
    kwargs = {"base_color": SCENE_COLORS[task.cue.scene] if scene else None,
              "landmark": task.cue.landmark if landmark else ""}  # fmt: skip
    return kwargs, task.cue.clothing if clothing else None


def _render_scene(rng: np.random.Generator, spec: ClipSpec, task: ClipTask) -> np.ndarray:
    backdrop_kwargs, clothing = _shown_cues(rng, task)
    backdrop = make_backdrop(rng, task.width, task.height, **backdrop_kwargs)
    n_frames = task.duration * task.fps
    frames = np.empty((n_frames, task.height, task.width, 3), dtype=np.uint8)
    shot = _actor_shot(rng, spec, task, clothing) if spec.pose else None
    params = _object_params(rng, task) if spec.objects else {}
    if spec.objects and clothing is not None:
        params["color"] = ACTOR_PALETTE[clothing]  # object-only clips: the object wears it
    for n in range(n_frames):
        t = n / task.fps
        frames[n], _ = render_frame(backdrop, shot, t, task.width, task.height)
        if spec.objects:
            draw_objects(frames[n], spec.objects, t / task.duration, params, backdrop.camera(t))
    return frames


def render_clip(task: ClipTask, rng: np.random.Generator) -> np.ndarray:
    """Render one clip as RGB frames ``(T, H, W, 3)`` uint8."""
    if task.dataset == "ssv2":
        return render_manipulation(
            rng,
            SSV2_TEMPLATES[task.label],
            SSV2_OBJECTS[task.placeholder],
            task.width,
            task.height,
            task.fps,
            task.duration,
            task.object_scale,
        )
    specs = KINETICS_SPECS if task.dataset == "kinetics" else MIT_SPECS
    options = specs[task.label]
    spec = options[int(rng.integers(len(options)))]
    return _render_scene(rng, spec, task)
