"""SSv2-like clips: a hand manipulating an object on a table (a different domain).

Each template is a pair of piecewise-linear paths over normalised clip time
τ ∈ [0, 1]: the hand (x, y) and the object (x, y, angle, scale). Direction
matters (pushing left→right vs right→left, lifting vs putting down) and so does
contact (pushing vs *pretending* to push), so a single frame is not enough.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training.synth.scenes import ACTOR_PALETTE, draw_shape

__all__ = ["render_manipulation", "MOTIONS"]

TABLE_Y = 0.72  # table surface, fraction of the height
HIGH_Y = 0.28


def _paths(
    motion: str, ox: float, size: float, object_scale: float = 1.0
) -> tuple[list, list, str]:
    """Key points ``(τ, x, y)`` of the hand, ``(τ, x, y, angle, scale)`` of the object, arm anchor.

    Coordinates are fractions of width/height; ``size`` is the object half-size
    as a fraction of the width.
    """
    ty, hy = TABLE_Y, HIGH_Y
    g = 1.6 * size  # hand-object contact distance
    if motion in ("push_lr", "pull_rl", "pretend_push"):
        side = -1.0 if motion != "pull_rl" else 1.0  # hand left of the object
        move = 0.0 if motion == "pretend_push" else (0.35 if motion == "push_lr" else -0.35)
        reach = g if motion != "pretend_push" else 3.0 * g
        if motion == "pretend_push" and object_scale != 1.0:
            # a large object: stop a fixed gap short (3g would put the hand off screen) and
            # stand further right (the object does not move)
            reach, ox = g + 0.12, ox + 0.1
        hx = ox + side * reach
        hand = [
            (0, ox + side * 0.5, ty + 0.15),
            (0.25, hx, ty),
            (0.75, hx + (move or 0.12 * -side), ty),
            (1, hx + move, ty + 0.25),
        ]
        obj = [
            (0, ox, ty, 0, 1),
            (0.25, ox, ty, 0, 1),
            (0.75, ox + move, ty, 0, 1),
            (1, ox + move, ty, 0, 1),
        ]
        return hand, obj, "bottom"
    if motion in ("push_rl", "pull_lr"):
        mirrored = "push_lr" if motion == "push_rl" else "pull_rl"
        hand, obj, anchor = _paths(mirrored, 1.0 - ox, size, object_scale)
        return (
            [(t, 1 - x, y) for t, x, y in hand],
            [(t, 1 - x, y, a, s) for t, x, y, a, s in obj],
            anchor,
        )
    if motion in ("lift", "put_down"):
        hand = [(0, ox, 0.0), (0.3, ox, ty - g), (0.85, ox, hy - g), (1, ox, hy - g)]
        obj = [(0, ox, ty, 0, 1), (0.3, ox, ty, 0, 1), (0.85, ox, hy, 0, 1), (1, ox, hy, 0, 1)]
        if motion == "put_down":
            hand = [(1 - t, x, y) for t, x, y in reversed(hand)]
            obj = [(1 - t, x, y, a, s) for t, x, y, a, s in reversed(obj)]
        return hand, obj, "top"
    if motion == "drop":
        fall = [(0.35 + 0.05 * k, ox, hy + (ty - hy) * (k / 5) ** 2, 0, 1) for k in range(6)]
        obj = [
            (0, ox, hy, 0, 1),
            *fall,
            (0.65, ox, ty - 0.04, 0, 1),
            (0.7, ox, ty, 0, 1),
            (1, ox, ty, 0, 1),
        ]
        hand = [(0, ox, hy - g), (0.6, ox, hy - g), (1, ox, 0.05)]
        return hand, obj, "top"
    if motion == "turn":
        hand = [(0, ox + 0.3, 0.0), (0.3, ox, ty - g), (0.75, ox, ty - g), (1, ox - 0.3, 0.0)]
        obj = [
            (0, ox, ty, 0, 1),
            (0.3, ox, ty, 0, 1),
            (0.75, ox, ty, math.pi, 1),
            (1, ox, ty, math.pi, 1),
        ]
        return hand, obj, "top"
    if motion == "closer":
        hand = [(0, ox, 1.0), (0.2, ox, ty + g), (0.8, 0.5, 0.55 + 2 * g), (1, 0.5, 0.55 + 2 * g)]
        obj = [
            (0, ox, ty, 0, 1),
            (0.2, ox, ty, 0, 1),
            (0.8, 0.5, 0.55, 0, 2.2),
            (1, 0.5, 0.55, 0, 2.2),
        ]
        return hand, obj, "bottom"
    raise ValueError(f"unknown manipulation motion {motion!r}; expected one of {MOTIONS}")


MOTIONS = (
    "push_lr",
    "push_rl",
    "pull_lr",
    "pull_rl",
    "pretend_push",
    "lift",
    "put_down",
    "drop",
    "turn",
    "closer",
)


def _interp(keys: list, tau: float) -> list[float]:
    times = [k[0] for k in keys]
    return [float(np.interp(tau, times, [k[i] for k in keys])) for i in range(1, len(keys[0]))]


def _table(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    wood = np.array(
        [rng.uniform(120, 190), rng.uniform(95, 140), rng.uniform(60, 100)], dtype=np.float32
    )
    wall = np.array([rng.uniform(150, 210)] * 3, dtype=np.float32)
    img = np.empty((height, width, 3), dtype=np.float32)
    top = int(TABLE_Y * height) + 2
    img[:top] = wall
    grain = rng.normal(0, 1, size=(height - top, 1, 1)).astype(np.float32) * 8
    img[top:] = wood + grain
    img += rng.normal(0, 3, size=(height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_hand(
    frame: np.ndarray, hand: list[float], anchor: str, skin: tuple, sleeve: tuple, scale: float
) -> None:
    height, width = frame.shape[:2]
    hx, hy = hand[0] * width, hand[1] * height
    ax, ay = (hx + 0.1 * width, -5.0) if anchor == "top" else (hx + 0.15 * width, height + 5.0)
    cv2.line(
        frame, (int(ax), int(ay)), (int(hx), int(hy)), sleeve, max(3, int(0.1 * height * scale))
    )
    radius = max(3, int(0.06 * height * scale))
    cv2.circle(frame, (int(hx), int(hy)), radius, skin, -1)
    for k in (-1, 0, 1):  # fingers
        tip = (int(hx - 1.6 * radius), int(hy + k * radius * 0.6))
        cv2.line(frame, (int(hx), int(hy + k * radius * 0.6)), tip, skin, max(1, radius // 2))


def render_manipulation(
    rng: np.random.Generator,
    motion: str,
    shape: str,
    width: int,
    height: int,
    fps: int,
    duration: int,
    object_scale: float = 1.0,
) -> np.ndarray:
    """Render a hand doing ``motion`` with an object of ``shape``; frames ``(T, H, W, 3)``.

    ``object_scale`` multiplies the object's and the hand's size (1.0: objects 10-16 % of
    the width across).
    """
    size = float(rng.uniform(0.05, 0.08)) * object_scale
    ox = float(rng.uniform(0.3, 0.45)) if motion != "turn" else float(rng.uniform(0.35, 0.65))
    hand_keys, obj_keys, anchor = _paths(motion, ox, size, object_scale)
    table = _table(rng, width, height)
    color = ACTOR_PALETTE[int(rng.integers(len(ACTOR_PALETTE)))]
    skin = tuple(int(c) for c in rng.uniform([200, 150, 120], [240, 200, 170]))
    sleeve = tuple(int(c) for c in rng.uniform(40, 200, 3))
    shake = rng.uniform(0.3, 1.2, 2)
    n_frames = duration * fps
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for n in range(n_frames):
        tau = n / max(1, n_frames - 1)
        dx = 1.5 * math.sin(2 * math.pi * shake[0] * n / fps)
        dy = 1.0 * math.sin(2 * math.pi * shake[1] * n / fps)
        frame = np.roll(table, (int(round(dy)), int(round(dx))), axis=(0, 1))
        ox_t, oy_t, angle, scale = _interp(obj_keys, tau)
        obj_size = size * width * scale
        draw_shape(
            frame, shape, (ox_t * width + dx, oy_t * height - obj_size + dy), obj_size, angle, color
        )
        hx, hy = _interp(hand_keys, tau)
        _draw_hand(
            frame,
            [hx + dx / width, hy - size * scale * 0.8 + dy / height],
            anchor,
            skin,
            sleeve,
            object_scale * scale**0.5,
        )
        frames[n] = frame
    return frames
