"""Stick-figure actors: pose kinematics over time, drawing, tight boxes.

An actor is drawn as a head circle, a thick torso and limbs as thick lines, all
in one saturated colour. Its *motion* defines its action: a pose function gives
joint angles at time ``t`` (walk vs run differ in speed and limb frequency,
wave vs stand in an arm oscillation, fall is a rotation to the ground ...) and
add-ons override arms/legs or attach props. Joint coordinates are in units of
the actor height, x forward, y up, feet on the ground at y = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

__all__ = ["Pose", "Actor", "pose_at", "joints", "draw_actor", "actor_box", "SPEEDS"]

THIGH, SHIN, TORSO, NECK, HEAD_R = 0.24, 0.24, 0.30, 0.10, 0.095
UPPER, FORE = 0.15, 0.15
LIMB_W, TORSO_W = 0.075, 0.12

# Horizontal speed of travelling poses, in actor heights per second.
SPEEDS: dict[str, float] = {"walk": 0.45, "run": 1.3}
TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class Pose:
    """Joint angles (radians) of a stick figure; index 0 = front limb, 1 = back limb.

    Leg/arm angles are measured from the downward vertical, positive forward;
    knee/elbow flexion bends the lower segment backward (knee) / forward (elbow).
    """

    lean: float = 0.0
    hips: tuple[float, float] = (0.15, -0.15)
    knees: tuple[float, float] = (0.0, 0.0)
    shoulders: tuple[float, float] = (0.3, -0.3)
    elbows: tuple[float, float] = (0.2, 0.2)
    lift: float = 0.0  # whole body raised above the ground (jump), in heights
    tilt: float = 0.0  # rotation of the whole body about the feet (fall/lie)
    x_scale: float = 1.0  # horizontal squash (spin about the vertical axis)
    head_dy: float = 0.0  # head nod


@dataclass
class Actor:
    """One actor during one shot.

    Attributes:
        person_id: Identity, stable over the video.
        color: RGB colour of the figure.
        height: Standing height in pixels.
        ground_y: Image row of the feet (before camera jitter).
        x0: Image column of the body at the shot start.
        facing: +1 faces right, -1 faces left.
        pose: Pose class name.
        addons: Add-on names (AVA classes or upstream-only motions).
        phase: Random phase of periodic motions (seconds).
        x_range: Columns the body may travel in (walkers bounce at the ends).
        event_time: Shot-local time of a one-off event (the fall).
        drift: Extra horizontal velocity in heights/s (push: pusher and pushee drift).
        partner_dx: Signed distance to the partner in pixels (0: no partner).
        prop_color: RGB colour of a held/used object.
    """

    person_id: int
    color: tuple[int, int, int]
    height: float
    ground_y: float
    x0: float
    facing: int
    pose: str
    addons: tuple[str, ...] = ()
    phase: float = 0.0
    x_range: tuple[float, float] = (0.0, 1e9)
    event_time: float = 0.5
    drift: float = 0.0
    partner_dx: float = 0.0
    prop_color: tuple[int, int, int] = (240, 240, 240)
    recoil: bool = False
    labels: tuple[str, ...] = field(default_factory=tuple)


def _sin(freq: float, t: float) -> float:
    return math.sin(TWO_PI * freq * t)


def _smoothstep(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _base_pose(name: str, t: float, event_time: float) -> Pose:
    """Joint angles of pose ``name`` at shot-local time ``t``."""
    if name == "walk":
        s = _sin(1.6, t)
        return Pose(
            hips=(0.45 * s, -0.45 * s),
            knees=(0.35 * max(0.0, -s), 0.35 * max(0.0, s)),
            shoulders=(-0.4 * s, 0.4 * s),
        )
    if name == "run":
        s = _sin(2.8, t)
        return Pose(
            lean=0.3,
            hips=(0.8 * s, -0.8 * s),
            knees=(0.4 + 0.9 * max(0.0, -s), 0.4 + 0.9 * max(0.0, s)),
            shoulders=(-0.9 * s, 0.9 * s),
            elbows=(1.5, 1.5),
        )
    if name == "sit":
        return Pose(
            lean=-0.05, hips=(1.5, 1.45), knees=(1.5, 1.45), shoulders=(0.5, 0.4), elbows=(0.8, 0.8)
        )
    if name == "crouch":
        bob = 0.08 * _sin(0.7, t)
        return Pose(
            lean=0.55 + bob,
            hips=(1.25 + bob, 1.15 + bob),
            knees=(2.2, 2.1),
            shoulders=(0.9, 0.7),
            elbows=(0.4, 0.4),
        )
    if name == "lie_down":
        return Pose(tilt=math.pi / 2, shoulders=(0.3, -0.2), head_dy=0.005 * _sin(0.4, t))
    if name == "jump":
        hop = abs(math.sin(math.pi * 1.4 * t))
        tuck = 0.9 * hop
        return Pose(
            lift=0.28 * hop,
            hips=(0.3 + tuck, 0.2 + tuck),
            knees=(1.6 * tuck, 1.6 * tuck),
            shoulders=(2.4 - 1.2 * hop, 2.2 - 1.2 * hop),
            elbows=(0.2, 0.2),
        )
    if name == "spin":
        return Pose(
            shoulders=(math.pi / 2, -math.pi / 2),
            elbows=(0.0, 0.0),
            x_scale=math.cos(TWO_PI * 0.9 * t),
        )
    if name == "fall":
        progress = _smoothstep((t - event_time) / 0.12)
        flail = 1.0 - abs(2.0 * progress - 1.0)
        return Pose(
            tilt=progress * math.pi / 2,
            shoulders=(0.12 + 2.2 * flail, -0.12 + 1.5 * flail),
            hips=(0.05 + 0.5 * flail, -0.05),
            knees=(0.6 * flail, 0.0),
        )
    return Pose(lean=0.02 * _sin(0.3, t))  # stand: slight sway


def _set_arm(pose: Pose, arm: int, shoulder: float, elbow: float) -> Pose:
    shoulders, elbows = list(pose.shoulders), list(pose.elbows)
    shoulders[arm], elbows[arm] = shoulder, elbow
    return replace(pose, shoulders=(shoulders[0], shoulders[1]), elbows=(elbows[0], elbows[1]))


def _arms(pose: Pose, front: tuple[float, float], back: tuple[float, float]) -> Pose:
    return replace(pose, shoulders=(front[0], back[0]), elbows=(front[1], back[1]))


def _apply_addon(pose: Pose, addon: str, arm: int, t: float) -> Pose:
    """Override limbs for one add-on; ``arm`` is the free arm (0 front, 1 back)."""
    if addon == "wave":
        return _set_arm(pose, arm, 2.7 + 0.15 * _sin(2.0, t), 0.2 + 0.55 * (1 + _sin(2.0, t)) / 2)
    if addon in ("point", "give"):
        return _set_arm(pose, arm, math.pi / 2, 0.0)
    if addon == "phone":
        return _set_arm(pose, arm, 0.6, 2.4)
    if addon == "drink":
        cycle = (1 + _sin(0.5, t)) / 2
        return _set_arm(pose, arm, 0.2 + 0.5 * cycle, 0.4 + 2.0 * cycle)
    if addon == "throw":
        swing = (t * 0.8) % 1.0
        return _set_arm(pose, arm, -1.0 + 4.0 * swing if swing < 0.6 else 1.4, 0.3)
    if addon == "hand_shake":
        return _set_arm(pose, arm, 1.0 + 0.12 * _sin(3.0, t), 0.35)
    if addon == "hit":
        jab = (1 + _sin(2.5, t)) / 2
        return _set_arm(pose, arm, 1.5, 1.8 * (1 - jab))
    if addon in ("carry",):
        return _arms(pose, (0.9, 0.8), (0.9, 0.8))
    if addon == "push":
        return replace(_arms(pose, (1.5, 0.2), (1.4, 0.3)), lean=0.35)
    if addon == "hug":
        return _arms(pose, (1.3, 1.6), (1.2, 1.8))
    if addon == "clap":
        beat = (1 + _sin(2.5, t)) / 2
        return _arms(pose, (1.2, 0.3 + 1.0 * beat), (1.1, 0.3 + 1.0 * beat))
    if addon == "juggle":
        return _arms(pose, (0.9 + 0.2 * _sin(2.0, t), 0.9), (0.9 - 0.2 * _sin(2.0, t), 0.9))
    if addon == "rope":
        return _arms(pose, (0.6, 0.3), (0.6, 0.3))
    if addon == "dribble":
        return _set_arm(pose, arm, 0.5 + 0.25 * _sin(1.8, t), 0.3)
    if addon == "stretch":
        up = (1 + _sin(0.6, t)) / 2
        return _arms(pose, (0.1 + 2.9 * up, 0.0), (-0.1 + 2.9 * up, 0.0))
    if addon == "kick":
        swing = max(0.0, _sin(1.0, t))
        return replace(pose, hips=(1.4 * swing, pose.hips[1]), knees=(0.6 * (1 - swing), 0.0))
    if addon == "talk_to":
        return _set_arm(
            replace(pose, head_dy=0.015 * _sin(3.0, t)), 0, 0.7 + 0.3 * _sin(1.3, t), 0.9
        )
    return pose


def pose_at(actor: Actor, t: float) -> Pose:
    """Joint angles of ``actor`` at shot-local time ``t`` (pose plus add-ons)."""
    tt = t + actor.phase
    pose = _base_pose(actor.pose, tt, actor.event_time + actor.phase)
    free_arm = 0
    for addon in actor.addons:
        pose = _apply_addon(pose, addon, free_arm, tt)
        free_arm = 1
    if actor.recoil:
        pose = replace(pose, lean=-0.25 - 0.1 * _sin(2.5, tt))
    return pose


def _down(angle: float) -> np.ndarray:
    return np.array([math.sin(angle), -math.cos(angle)])


def joints(pose: Pose) -> dict[str, np.ndarray]:
    """2-D joint positions (height units, x forward, y up, lowest point on y = lift)."""
    hip = np.zeros(2)
    pts: dict[str, np.ndarray] = {"hip": hip}
    for i in range(2):
        pts[f"knee{i}"] = hip + THIGH * _down(pose.hips[i])
        pts[f"foot{i}"] = pts[f"knee{i}"] + SHIN * _down(pose.hips[i] - pose.knees[i])
    up = np.array([math.sin(pose.lean), math.cos(pose.lean)])
    pts["neck"] = hip + TORSO * up
    pts["head"] = pts["neck"] + (NECK + pose.head_dy) * up
    for i in range(2):
        pts[f"elbow{i}"] = pts["neck"] + UPPER * _down(pose.shoulders[i])
        pts[f"hand{i}"] = pts[f"elbow{i}"] + FORE * _down(pose.shoulders[i] + pose.elbows[i])
    names = list(pts)
    xy = np.stack([pts[n] for n in names])  # (J, 2)
    if pose.tilt:
        c, s = math.cos(pose.tilt), math.sin(pose.tilt)
        xy = xy @ np.array([[c, -s], [s, c]])  # rotate clockwise (forward) by tilt
    lowest = np.min(xy[:, 1] - np.where(np.array(names) == "head", HEAD_R, LIMB_W / 2))
    xy[:, 1] += pose.lift - lowest
    xy[:, 0] *= pose.x_scale
    return dict(zip(names, xy, strict=True))


def body_x(actor: Actor, t: float) -> tuple[float, int]:
    """Column of the body and current facing at shot-local time ``t``.

    Travelling poses move at their speed and bounce between ``x_range`` ends
    (turning round), so every trajectory stays in frame.
    """
    speed = SPEEDS.get(actor.pose, 0.0) * actor.facing + actor.drift
    if speed == 0.0:
        return actor.x0, actor.facing
    lo, hi = actor.x_range
    span = max(hi - lo, 1.0)
    travelled = actor.x0 - lo + speed * actor.height * t
    period = travelled % (2 * span)
    forward = period < span
    x = lo + (period if forward else 2 * span - period)
    direction = 1 if speed > 0 else -1
    facing = actor.facing if actor.drift else (direction if forward else -direction)
    return x, facing


def to_pixels(
    actor: Actor, pts: dict[str, np.ndarray], x: float, facing: int, offset: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Map joint positions to image pixels (camera ``offset`` = (dx, dy))."""
    out = {}
    for name, (px, py) in pts.items():
        out[name] = np.array(
            [
                x + facing * px * actor.height + offset[0],
                actor.ground_y - py * actor.height + offset[1],
            ]
        )
    return out


_SEGMENTS = (
    ("hip", "neck", TORSO_W),
    ("hip", "knee0", LIMB_W),
    ("knee0", "foot0", LIMB_W),
    ("hip", "knee1", LIMB_W),
    ("knee1", "foot1", LIMB_W),
    ("neck", "elbow0", LIMB_W),
    ("elbow0", "hand0", LIMB_W),
    ("neck", "elbow1", LIMB_W),
    ("elbow1", "hand1", LIMB_W),
)


def _thickness(height: float, width: float) -> int:
    return max(2, int(round(width * height)))


def draw_actor(frame: np.ndarray, actor: Actor, px: dict[str, np.ndarray]) -> None:
    """Draw the figure (pixel joints ``px``) on ``frame`` in place."""
    color = tuple(int(c) for c in actor.color)
    for a, b, width in _SEGMENTS:
        p, q = px[a], px[b]
        cv2.line(
            frame,
            (int(round(p[0])), int(round(p[1]))),
            (int(round(q[0])), int(round(q[1]))),
            color,
            _thickness(actor.height, width),
        )
    head = px["head"]
    radius = max(2, int(round(HEAD_R * actor.height)))
    cv2.circle(frame, (int(round(head[0])), int(round(head[1]))), radius, color, -1)


def actor_box(
    actor: Actor, px: dict[str, np.ndarray], width: int, height: int
) -> tuple[float, float, float, float] | None:
    """Tight pixel box (x1, y1, x2, y2) of the drawn figure, clipped to the frame.

    Returns ``None`` when less than a quarter of the figure is visible.
    """
    pts = np.stack(list(px.values()))  # (J, 2)
    pad = np.full(len(pts), _thickness(actor.height, TORSO_W) / 2.0)
    pad[list(px).index("head")] = max(2, int(round(HEAD_R * actor.height)))
    x1, y1 = np.min(pts[:, 0] - pad), np.min(pts[:, 1] - pad)
    x2, y2 = np.max(pts[:, 0] + pad), np.max(pts[:, 1] + pad)
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < 0.25 * (x2 - x1) * (y2 - y1):
        return None
    return float(cx1), float(cy1), float(cx2), float(cy2)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def draw_props(frame: np.ndarray, actor: Actor, px: dict[str, np.ndarray], t: float) -> None:
    """Draw the objects an actor's add-ons use (box, phone, cup, balls, rope)."""
    h = actor.height
    color = tuple(int(c) for c in actor.prop_color)
    tt = t + actor.phase
    size = max(2, int(round(0.09 * h)))
    for addon in actor.addons:
        if addon == "carry":
            mid = (px["hand0"] + px["hand1"]) / 2
            cv2.rectangle(frame, _pt(mid - 1.5 * size), _pt(mid + 1.5 * size), color, -1)
        elif addon in ("phone", "drink"):
            hand = px["hand0"] if actor.addons[0] == addon else px["hand1"]
            cv2.rectangle(frame, _pt(hand - size / 2), _pt(hand + size / 2), color, -1)
        elif addon == "give":
            hand = px["hand0"] if actor.addons[0] == addon else px["hand1"]
            progress = (tt * 0.4) % 1.0
            pos = hand + np.array([actor.partner_dx * 0.5 * progress, 0.0])
            cv2.rectangle(frame, _pt(pos - size), _pt(pos + size), color, -1)
        elif addon == "throw":
            swing = (tt * 0.8) % 1.0
            hand = px["hand0"] if actor.addons[0] == addon else px["hand1"]
            fly = max(0.0, swing - 0.55) / 0.45
            direction = 1.0 if px["hand0"][0] >= px["hip"][0] else -1.0
            pos = hand + np.array([direction * fly * 2.5 * h, -fly * (1.0 - fly) * 1.5 * h])
            cv2.circle(frame, _pt(pos), size, color, -1)
        elif addon == "juggle":
            for k in range(3):
                ang = TWO_PI * (1.2 * tt + k / 3)
                centre = (px["hand0"] + px["hand1"]) / 2 - np.array([0.0, 0.25 * h])
                pos = centre + np.array([0.18 * h * math.cos(ang), 0.25 * h * math.sin(ang)])
                cv2.circle(frame, _pt(pos), size, color, -1)
        elif addon == "rope":
            ang = math.pi * 1.4 * tt
            centre = (px["head"] + (px["foot0"] + px["foot1"]) / 2) / 2
            axes = (int(0.35 * h), max(1, int(abs(0.6 * h * math.cos(ang)))))
            cv2.ellipse(frame, _pt(centre), (axes[1], axes[0]), 0, 0, 360, color, 1)
        elif addon == "dribble":
            hand = px["hand0"] if actor.addons[0] == addon else px["hand1"]
            floor = max(px["foot0"][1], px["foot1"][1])
            bounce = abs(math.sin(math.pi * 1.8 * tt))
            pos = np.array([hand[0], hand[1] + (floor - hand[1]) * bounce])
            cv2.circle(frame, _pt(pos), size, color, -1)
