"""Casting and placing actors in a shot: poses, add-ons, pairs, positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.synth.actors import SPEEDS, Actor
from training.synth.scenes import PROP_COLORS
from training.synth.taxonomy import ADDONS, POSE_WEIGHTS

__all__ = [
    "weighted_choice",
    "sample_pose",
    "sample_solo_addons",
    "solo_actor",
    "pair_actors",
    "PAIR_GAP",
]

# Distance between pair partners, in actor heights.
PAIR_GAP: dict[str, float] = {
    "hand_shake": 0.42,
    "hug": 0.2,
    "push": 0.32,
    "hit": 0.4,
    "give": 0.55,
    "talk_to": 0.6,
    "watch": 0.8,
}
PUSH_SPEED = 0.3  # heights per second


def weighted_choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """Draw one key of ``weights`` with probability proportional to its value."""
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_pose(rng: np.random.Generator, allowed: Sequence[str]) -> str:
    """A pose among ``allowed`` drawn by the long-tailed pose weights."""
    return weighted_choice(rng, {p: POSE_WEIGHTS[p] for p in allowed})


def sample_solo_addons(
    rng: np.random.Generator, pose: str, classes: Sequence[str], arms_used: int, max_count: int
) -> list[str]:
    """Up to ``max_count`` solo add-ons compatible with ``pose`` and the free arms."""
    chosen: list[str] = []
    for _ in range(max_count):
        free = 2 - arms_used
        options = {
            a: ADDONS[a].weight
            for a in classes
            if a in ADDONS
            and not ADDONS[a].pair
            and a not in chosen
            and pose in ADDONS[a].poses
            and ADDONS[a].arms <= free
            and not (a == "kick" and arms_used == 2)
        }
        if not options:
            break
        pick = weighted_choice(rng, options)
        chosen.append(pick)
        arms_used += ADDONS[pick].arms
    return chosen


def _depth(rng: np.random.Generator, height: int, scale: float = 1.0) -> tuple[float, float]:
    depth = float(rng.uniform())
    return height * (0.72 + 0.25 * depth), height * (0.36 + 0.2 * depth) * scale


def solo_actor(
    rng: np.random.Generator,
    person_id: int,
    color: tuple[int, int, int],
    pose: str,
    addons: Sequence[str],
    labels: Sequence[str],
    slot: tuple[float, float],
    size: tuple[int, int],
    event_time: float = 0.5,
    scale: float = 1.0,
) -> Actor:
    """An actor placed in the column range ``slot`` of a ``size`` = (W, H) frame.

    ``scale`` multiplies the actor's height (0.36-0.56 of the frame height at 1.0).
    """
    width, height = size
    ground_y, actor_h = _depth(rng, height, scale)
    x0 = float(rng.uniform(*slot))
    facing = int(rng.choice([-1, 1]))
    if pose in ("lie_down", "fall"):
        facing = 1 if x0 < width / 2 else -1  # lie down towards the free side
        x0 = float(np.clip(x0, 0.15 * width, 0.85 * width)) - facing * 0.3 * actor_h
    travelling = pose in SPEEDS
    return Actor(
        person_id=person_id,
        color=color,
        height=actor_h,
        ground_y=ground_y,
        x0=x0,
        facing=facing,
        pose=pose,
        addons=tuple(addons),
        phase=0.0 if pose == "fall" else float(rng.uniform(0, 2)),
        x_range=(0.08 * width, 0.92 * width) if travelling else (0.0, float(width)),
        event_time=event_time,
        prop_color=PROP_COLORS[int(rng.integers(len(PROP_COLORS)))],
        labels=tuple(labels),
    )


def pair_actors(
    rng: np.random.Generator,
    ids: tuple[int, int],
    colors: tuple[tuple[int, int, int], tuple[int, int, int]],
    addon: str,
    pose: str,
    classes: Sequence[str],
    slot: tuple[float, float],
    size: tuple[int, int],
    scale: float = 1.0,
) -> tuple[Actor, Actor]:
    """Two partners facing each other doing the pair add-on ``addon``.

    The first actor is the agent (labelled ``addon``); the partner gets the
    add-on's ``partner_label`` when that is one of ``classes``.
    """
    width, _ = size
    spec = ADDONS[addon]
    agent = solo_actor(rng, ids[0], colors[0], pose, (addon,), (addon,), slot, size, scale=scale)
    partner_label = spec.partner_label if spec.partner_label in classes else None
    partner_motion = (partner_label,) if partner_label in ("hand_shake", "hug") else ()
    partner = solo_actor(
        rng,
        ids[1],
        colors[1],
        pose,
        partner_motion,
        (partner_label,) if partner_label else (),
        slot,
        size,
        scale=scale,
    )
    gap = PAIR_GAP[addon] * agent.height
    centre = float(np.clip(agent.x0, 0.1 * width + gap, 0.9 * width - gap))
    facing = int(rng.choice([-1, 1]))
    agent.facing, partner.facing = facing, -facing
    agent.x0, partner.x0 = centre - facing * gap / 2, centre + facing * gap / 2
    partner.ground_y, partner.height = agent.ground_y, agent.height * float(rng.uniform(0.9, 1.1))
    agent.partner_dx = partner.x0 - agent.x0
    if addon in ("push", "hit"):
        partner.recoil = True
    if addon == "push":
        agent.drift = facing * PUSH_SPEED
        partner.drift = agent.drift * agent.height / partner.height  # same pixel speed
        agent.x_range = partner.x_range = (0.0, float(width))
    return agent, partner
