"""AVA-like videos: shot plans, rendering, keyframe labels, noisy person detections.

A video is a sequence of *shots* (cuts at half seconds, so every keyframe sits
inside one shot). In each shot 1..``max_actors`` members of the video's cast are
placed; each gets one pose class and 0-2 add-on classes (gestures, object and
person interactions, pairs facing each other). Keyframes are at integer seconds
2..duration-2 of the cut video, i.e. movie timestamps 902, 903, ... ("15-min
cut" convention: video time 0 == movie second 900).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from training.synth.actors import Actor
from training.synth.layout import (
    pair_actors,
    sample_pose,
    sample_solo_addons,
    solo_actor,
    weighted_choice,
)
from training.synth.scenes import ACTOR_PALETTE, Backdrop, Shot, make_backdrop, render_frame
from training.synth.taxonomy import ADDONS, POSE_WEIGHTS

__all__ = [
    "MOVIE_OFFSET",
    "AvaVideoSpec",
    "AvaVideoResult",
    "plan_shots",
    "keyframe_labels",
    "render_ava_video",
    "noisy_detections",
]

MOVIE_OFFSET = 900
P_PAIR = 0.5
EXTRA_ADDONS = (0.5, 0.37, 0.13)  # P(0, 1, 2 solo add-ons)


@dataclass(frozen=True)
class AvaVideoSpec:
    """What one AVA-like video looks like (all a worker needs)."""

    video_id: str
    split: str
    classes: tuple[str, ...]
    width: int
    height: int
    fps: int
    duration: int
    max_actors: int
    actor_scale: float = 1.0


@dataclass
class AvaVideoResult:
    """Rows produced for one video (CSV rows as tuples, ready to write)."""

    video_id: str
    split: str
    gt_rows: list[tuple] = field(default_factory=list)
    detection_rows: list[tuple] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)
    colors: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    num_keyframes: int = 0


def _shot_bounds(rng: np.random.Generator, duration: int) -> list[tuple[float, float]]:
    bounds, start = [], 0.0
    while start < duration:
        length = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.35, 0.3, 0.2]))
        end = float(np.floor(start + 0.5)) + length + 0.5
        end = float(duration) if end >= duration - 0.5 else end
        bounds.append((start, end))
        start = end
    return bounds


def _shot_actors(
    rng: np.random.Generator,
    spec: AvaVideoSpec,
    cast: Sequence[int],
    colors: dict[int, tuple[int, int, int]],
    event_time: float,
) -> list[Actor]:
    """Cast one shot: pick who is on screen, pair some of them, sample labels, place them."""
    classes = spec.classes
    size = (spec.width, spec.height)
    count = int(rng.choice(np.arange(1, spec.max_actors + 1)))
    present = [int(p) for p in rng.choice(cast, size=count, replace=False)]
    pair_addons = {a: ADDONS[a].weight for a in classes if a in ADDONS and ADDONS[a].pair}
    poses = [p for p in classes if p in POSE_WEIGHTS]
    groups: list[list[Actor]] = []
    slots = rng.permutation(count)
    for slot_index in slots:
        if not present:
            break
        slot = (spec.width * slot_index / count, spec.width * (slot_index + 1) / count)
        if len(present) >= 2 and pair_addons and rng.uniform() < P_PAIR:
            addon = weighted_choice(rng, pair_addons)
            pose = sample_pose(rng, [p for p in poses if p in ADDONS[addon].poses])
            ids = (present.pop(), present.pop())
            pair = pair_actors(
                rng,
                ids,
                (colors[ids[0]], colors[ids[1]]),
                addon,
                pose,
                classes,
                slot,
                size,
                spec.actor_scale,
            )
            groups.append(list(pair))
        else:
            pid = present.pop()
            pose = sample_pose(rng, poses)
            actor = solo_actor(
                rng, pid, colors[pid], pose, (), (), slot, size, event_time, spec.actor_scale
            )
            groups.append([actor])
    actors = [a for g in groups for a in g]
    for actor in actors:
        _add_solo_addons(rng, actor, classes)
    return actors


def _add_solo_addons(rng: np.random.Generator, actor: Actor, classes: Sequence[str]) -> None:
    wanted = int(rng.choice(3, p=EXTRA_ADDONS))
    room = min(wanted, 2 - len(actor.labels))
    if room <= 0 or actor.pose == "fall":
        return
    arms = sum(ADDONS[a].arms for a in actor.addons)
    extra = sample_solo_addons(rng, actor.pose, classes, arms, room)
    actor.addons = actor.addons + tuple(extra)
    actor.labels = actor.labels + tuple(extra)


def plan_shots(
    rng: np.random.Generator, spec: AvaVideoSpec
) -> tuple[Backdrop, list[Shot], dict[int, tuple[int, int, int]]]:
    """Backdrop, shots and cast colours (``person_id`` → RGB) of one video."""
    backdrop = make_backdrop(rng, spec.width, spec.height)
    cast_size = min(len(ACTOR_PALETTE), spec.max_actors + 1)
    palette = rng.permutation(len(ACTOR_PALETTE))[:cast_size]
    colors = {pid: ACTOR_PALETTE[int(c)] for pid, c in enumerate(palette)}
    shots = []
    for start, end in _shot_bounds(rng, spec.duration):
        first = max(float(np.ceil(start)), 2.0)  # first keyframe inside the shot (the fall moment)
        first_keyframe = (first if first < end else (start + end) / 2) - start
        shots.append(
            Shot(start, end, _shot_actors(rng, spec, list(colors), colors, first_keyframe))
        )
    return backdrop, shots, colors


def keyframe_labels(actor: Actor, local_t: float) -> list[str]:
    """AVA class names of ``actor`` at shot-local keyframe time ``local_t``."""
    pose = actor.pose
    if pose == "fall" and local_t > actor.event_time + 0.5:
        pose = "lie_down"  # after falling, the actor lies on the ground
    return [pose, *actor.labels]


def _shot_at(shots: Sequence[Shot], t: float) -> Shot:
    for shot in shots:
        if shot.start <= t < shot.end:
            return shot
    return shots[-1]


def render_ava_video(
    spec: AvaVideoSpec, rng: np.random.Generator
) -> tuple[np.ndarray, AvaVideoResult]:
    """Render one video and its ground truth.

    Returns:
        Frames ``(T, H, W, 3)`` uint8 RGB and the result rows (detections not yet added).
    """
    backdrop, shots, colors = plan_shots(rng, spec)
    class_ids = {name: i + 1 for i, name in enumerate(spec.classes)}
    result = AvaVideoResult(spec.video_id, spec.split, colors=colors)
    keyframes = list(range(2, spec.duration - 1))
    excluded = {int(rng.choice(keyframes))} | {k for k in keyframes if rng.uniform() < 0.02}
    result.excluded = sorted(MOVIE_OFFSET + k for k in excluded)
    result.num_keyframes = len(keyframes)
    n_frames = spec.duration * spec.fps
    frames = np.empty((n_frames, spec.height, spec.width, 3), dtype=np.uint8)
    for n in range(n_frames):
        t = n / spec.fps
        shot = _shot_at(shots, t)
        is_key = n % spec.fps == 0 and (n // spec.fps) in keyframes
        frames[n], boxes = render_frame(
            backdrop, shot, t, spec.width, spec.height, want_boxes=is_key
        )
        if not is_key or (n // spec.fps) in excluded:
            continue
        actors = {a.person_id: a for a in shot.actors}
        for pid in sorted(boxes):
            x1, y1, x2, y2 = boxes[pid]
            norm = (x1 / spec.width, y1 / spec.height, x2 / spec.width, y2 / spec.height)
            for label in keyframe_labels(actors[pid], t - shot.start):
                row = (spec.video_id, MOVIE_OFFSET + n // spec.fps, *norm, class_ids[label], pid)
                result.gt_rows.append(row)
    return frames, result


def _jitter(
    rng: np.random.Generator, box: Sequence[float], scale: float
) -> tuple[float, float, float, float]:
    w, h = box[2] - box[0], box[3] - box[1]
    x1, y1, x2, y2 = (np.array(box) + rng.normal(0.0, scale, 4) * [w, h, w, h]).tolist()
    x1, x2 = sorted((float(np.clip(x1, 0, 1)), float(np.clip(x2, 0, 1))))
    y1, y2 = sorted((float(np.clip(y1, 0, 1)), float(np.clip(y2, 0, 1))))
    return x1, y1, max(x2, x1 + 0.01), max(y2, y1 + 0.01)


def noisy_detections(
    rng: np.random.Generator, result: AvaVideoResult, keyframe_ts: Sequence[int]
) -> list[tuple]:
    """Person-detector output: jittered GT boxes, misses, low-score false positives.

    Most true persons score ≥ 0.8 (the paper's training threshold); ~6 % are
    missed, ~10 % score lower; about one false positive per three keyframes,
    mostly with low scores. Rows: ``video_id, ts, x1, y1, x2, y2, "", score``.
    """
    persons: dict[int, dict[int, tuple]] = {}
    for row in result.gt_rows:
        persons.setdefault(row[1], {})[row[7]] = row[2:6]
    rows: list[tuple] = []
    for ts in keyframe_ts:
        dets: list[tuple[tuple[float, float, float, float], float]] = []
        for box in persons.get(ts, {}).values():
            if rng.uniform() < 0.06:
                continue  # missed person
            score = rng.uniform(0.8, 0.999) if rng.uniform() < 0.9 else rng.uniform(0.3, 0.8)
            dets.append((_jitter(rng, box, 0.04), float(score)))
        for _ in range(int(rng.poisson(0.35))):
            w, h = rng.uniform(0.08, 0.3), rng.uniform(0.2, 0.55)
            x1, y1 = rng.uniform(0, 1 - w), rng.uniform(0.1, 1 - h)
            high = rng.uniform() < 0.1
            score = rng.uniform(0.5, 0.9) if high else rng.uniform(0.05, 0.5)
            dets.append(((float(x1), float(y1), float(x1 + w), float(y1 + h)), float(score)))
        for box, score in sorted(dets, key=lambda d: -d[1]):
            rows.append((result.video_id, ts, *box, "", score))
    return rows
