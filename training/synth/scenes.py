"""Scenes: moving textured backgrounds, clutter distractors, camera jitter, shot layout.

A scene is rendered frame by frame: background (panned texture) → clutter shapes
→ actors (far to near) → their props. Background and clutter colours are
desaturated and actors saturated, so actor pixels can be told apart even after
H.264 compression. Everything is drawn with numpy/OpenCV from one
``numpy.random.Generator`` per video, so a video only depends on its own seed.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth.actors import (
    Actor,
    actor_box,
    body_x,
    draw_actor,
    draw_props,
    joints,
    pose_at,
    to_pixels,
)

__all__ = [
    "ACTOR_PALETTE",
    "PROP_COLORS",
    "Backdrop",
    "Shot",
    "make_backdrop",
    "render_frame",
    "draw_shape",
    "draw_objects",
    "OBJECT_MOTIONS",
]

# Saturated actor colours, pairwise RGB distance > 80 (robust to H.264 chroma loss).
ACTOR_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 30, 30),
    (30, 200, 40),
    (40, 70, 235),
    (235, 215, 20),
    (220, 40, 220),
    (20, 210, 220),
    (245, 130, 20),
    (140, 50, 230),
)
PROP_COLORS: tuple[tuple[int, int, int], ...] = ((240, 240, 240), (25, 25, 25), (150, 100, 50))


def _muted(rng: np.random.Generator, s_max: float = 0.25) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, s_max), rng.uniform(0.3, 0.75))
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class Clutter:
    """A desaturated distractor shape drifting across the frame."""

    kind: str
    color: tuple[int, int, int]
    pos: np.ndarray
    vel: np.ndarray
    size: float


@dataclass
class Backdrop:
    """Everything behind the actors: texture, pan, camera shake, clutter."""

    texture: np.ndarray  # (H + 2M, W + 2M, 3) uint8, tiled when panning
    margin: int
    pan: tuple[float, float]  # px/s
    shake: np.ndarray  # (2, 3): amplitude, frequency, phase per axis
    clutter: list[Clutter] = field(default_factory=list)

    def camera(self, t: float) -> tuple[float, float]:
        """Camera jitter offset (dx, dy) in pixels at time ``t``."""
        amp, freq, phase = self.shake[:, 0], self.shake[:, 1], self.shake[:, 2]
        d = amp * np.sin(2 * math.pi * freq * t + phase) + 0.4 * amp * np.sin(
            2 * math.pi * 2.7 * freq * t
        )
        return float(d[0]), float(d[1])


def _texture(
    rng: np.random.Generator, width: int, height: int, base_color: Sequence[int] | None = None
) -> np.ndarray:
    base = np.array(_muted(rng) if base_color is None else base_color, dtype=np.float32)
    coarse = rng.normal(0.0, 1.0, size=(max(2, height // 12), max(2, width // 12), 1)).astype(
        np.float32
    )
    fine = rng.normal(0.0, 1.0, size=(max(2, height // 3), max(2, width // 3), 1)).astype(
        np.float32
    )
    tex = 28 * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    tex = tex + 9 * cv2.resize(fine, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    img = base[None, None, :] + tex
    img[int(height * 0.62) :] *= 0.8  # a floor
    for _ in range(int(rng.integers(1, 4))):  # walls, door frames
        x = int(rng.integers(0, width))
        img[:, x : x + int(rng.integers(2, 6))] *= rng.uniform(0.75, 1.15)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_backdrop(
    rng: np.random.Generator,
    width: int,
    height: int,
    n_clutter: tuple[int, int] = (2, 5),
    base_color: Sequence[int] | None = None,
    landmark: str = "",
) -> Backdrop:
    """Random backdrop for a ``width``×``height`` video.

    ``base_color`` fixes the texture's base colour (a scene cue) and ``landmark`` draws a
    static object into the texture (see ``taxonomy.LANDMARKS``); both default to none.
    """
    margin = max(8, width // 8)
    texture = _texture(rng, width + 2 * margin, height + 2 * margin, base_color)
    if landmark:
        _draw_landmark(rng, texture, landmark)
    pan = (float(rng.uniform(-0.04, 0.04) * width), float(rng.uniform(-0.01, 0.01) * height))
    shake = np.stack(
        [
            rng.uniform(0.004, 0.015, 2) * width,
            rng.uniform(0.3, 1.2, 2),
            rng.uniform(0, 2 * math.pi, 2),
        ],
        axis=1,
    )
    clutter = [
        Clutter(
            kind=str(rng.choice(["rect", "circle", "pole"])),
            color=_muted(rng, 0.3),
            pos=rng.uniform([0, 0], [width, height * 0.8]),
            vel=rng.normal(0, 0.08, 2) * width,
            size=float(rng.uniform(0.05, 0.16) * height),
        )
        for _ in range(int(rng.integers(n_clutter[0], n_clutter[1] + 1)))
    ]
    return Backdrop(texture=texture, margin=margin, pan=pan, shake=shake, clutter=clutter)


def _draw_landmark(rng: np.random.Generator, texture: np.ndarray, kind: str) -> None:
    """A static, class-typical object (hoop, goal, table, tree, lamp) drawn into the texture."""
    th, tw = texture.shape[:2]
    x, floor, s = int(rng.uniform(0.15, 0.85) * tw), int(0.62 * th), max(3, th // 10)
    white, dark, wood = (235, 235, 235), (30, 30, 30), (120, 75, 35)
    if kind == "hoop":  # pole + backboard + ring
        cv2.line(texture, (x, floor), (x, floor - 4 * s), dark, 2)
        cv2.rectangle(texture, (x - s, floor - 5 * s), (x + s, floor - 4 * s), white, -1)
        cv2.ellipse(texture, (x, floor - 4 * s + 2), (s // 2 + 1, 2), 0, 0, 360, (240, 90, 20), 1)
    elif kind == "goal":  # white frame
        cv2.rectangle(texture, (x - 2 * s, floor - 2 * s), (x + 2 * s, floor), white, 2)
    elif kind == "table":
        cv2.rectangle(texture, (x - 2 * s, floor - s - 2), (x + 2 * s, floor - s + 1), wood, -1)
        for leg in (x - 2 * s + 1, x + 2 * s - 1):
            cv2.line(texture, (leg, floor - s), (leg, floor), wood, 2)
    elif kind == "tree":
        cv2.line(texture, (x, floor), (x, floor - 2 * s), wood, 3)
        cv2.circle(texture, (x, floor - 3 * s), int(1.3 * s), (30, 110, 40), -1)
    else:  # lamp post
        cv2.line(texture, (x, floor), (x, floor - 5 * s), dark, 2)
        cv2.circle(texture, (x, floor - 5 * s), max(2, s // 2), (250, 240, 150), -1)


def _background(backdrop: Backdrop, t: float, width: int, height: int) -> np.ndarray:
    dx, dy = backdrop.camera(t)
    th, tw = backdrop.texture.shape[:2]
    ox = int(round(backdrop.margin + backdrop.pan[0] * t - dx)) % tw
    oy = int(round(backdrop.margin + backdrop.pan[1] * t - dy)) % th
    tiled = (
        np.tile(backdrop.texture, (2, 2, 1))
        if ox + width > tw or oy + height > th
        else backdrop.texture
    )
    return np.ascontiguousarray(tiled[oy : oy + height, ox : ox + width])


def _draw_clutter(
    frame: np.ndarray, clutter: Sequence[Clutter], t: float, offset: tuple[float, float]
) -> None:
    height, width = frame.shape[:2]
    for item in clutter:
        x = (item.pos[0] + item.vel[0] * t) % (width + 2 * item.size) - item.size + offset[0]
        y = (item.pos[1] + item.vel[1] * t) % (height + 2 * item.size) - item.size + offset[1]
        s = item.size
        if item.kind == "rect":
            cv2.rectangle(
                frame, (int(x - s), int(y - s / 2)), (int(x + s), int(y + s / 2)), item.color, -1
            )
        elif item.kind == "circle":
            cv2.circle(frame, (int(x), int(y)), int(s / 1.5), item.color, -1)
        else:
            cv2.rectangle(
                frame,
                (int(x), int(y - 2 * s)),
                (int(x + max(2, s / 4)), int(y + 2 * s)),
                item.color,
                -1,
            )


@dataclass
class Shot:
    """A stretch of video with a fixed cast layout (a 'cut' starts a new shot)."""

    start: float
    end: float
    actors: list[Actor]


def render_frame(
    backdrop: Backdrop,
    shot: Shot | None,
    t: float,
    width: int,
    height: int,
    want_boxes: bool = False,
) -> tuple[np.ndarray, dict[int, tuple[float, float, float, float]]]:
    """Render the frame at video time ``t``.

    Returns:
        The RGB frame ``(H, W, 3)`` uint8 and, when ``want_boxes``, tight pixel
        boxes of the visible actors keyed by ``person_id``.
    """
    frame = _background(backdrop, t, width, height)
    offset = backdrop.camera(t)
    _draw_clutter(frame, backdrop.clutter, t, offset)
    boxes: dict[int, tuple[float, float, float, float]] = {}
    if shot is None:
        return frame, boxes
    local = t - shot.start
    for actor in sorted(shot.actors, key=lambda a: a.ground_y):
        x, facing = body_x(actor, local)
        px = to_pixels(actor, joints(pose_at(actor, local)), x, facing, offset)
        draw_actor(frame, actor, px)
        draw_props(frame, actor, px, local)
        if want_boxes:
            box = actor_box(actor, px, width, height)
            if box is not None:
                boxes[actor.person_id] = box
    return frame, boxes


def draw_shape(
    frame: np.ndarray,
    kind: str,
    centre: Sequence[float],
    size: float,
    angle: float,
    color: tuple[int, int, int],
) -> None:
    """Draw a filled object shape (box, ball, cup, book, bottle, tri) rotated by ``angle``."""
    cx, cy = float(centre[0]), float(centre[1])
    if kind == "ball":
        cv2.circle(frame, (int(round(cx)), int(round(cy))), max(2, int(round(size))), color, -1)
        return
    outlines = {
        "box": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
        "book": [(-1.3, -0.6), (1.3, -0.6), (1.3, 0.6), (-1.3, 0.6)],
        "cup": [(-1, -1), (1, -1), (0.6, 1), (-0.6, 1)],
        "bottle": [
            (-0.4, -1.5),
            (0.4, -1.5),
            (0.4, -0.6),
            (0.8, -0.3),
            (0.8, 1.3),
            (-0.8, 1.3),
            (-0.8, -0.3),
            (-0.4, -0.6),
        ],
        "tri": [(0, -1.2), (1.1, 0.9), (-1.1, 0.9)],
    }
    pts = np.array(outlines.get(kind, outlines["box"]), dtype=np.float64) * size
    c, s = math.cos(angle), math.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]]) + [cx, cy]
    cv2.fillPoly(frame, [np.round(pts).astype(np.int32)], color)
    # a dark stripe near the top edge makes orientation visible (upside down vs upright)
    stripe = np.array([[-0.8, -0.7], [0.8, -0.7]]) * size @ np.array([[c, s], [-s, c]]) + [cx, cy]
    cv2.line(
        frame,
        tuple(np.round(stripe[0]).astype(int)),
        tuple(np.round(stripe[1]).astype(int)),
        (20, 20, 20),
        1,
    )


OBJECT_MOTIONS = (
    "fast",
    "rotating",
    "touching",
    "dropping",
    "static",
    "bouncing",
    "flag",
    "drifting",
    "colliding",
)


def draw_objects(
    frame: np.ndarray, motion: str, tau: float, params: dict, offset: tuple[float, float]
) -> None:
    """Object-only scene for the Moments-like dataset at normalised time ``tau`` ∈ [0, 1].

    ``params`` holds ``start`` (x, y), ``size``, ``color``, ``color2``, ``kind``,
    ``direction`` (±1) chosen once per clip.
    """
    height, width = frame.shape[:2]
    x0, y0 = params["start"]
    size, d = params["size"], params["direction"]
    x0, y0 = x0 + offset[0], y0 + offset[1]
    kind, color = params["kind"], params["color"]
    if motion == "fast":
        draw_shape(frame, kind, ((x0 + d * tau * 1.5 * width) % width, y0), size, 0.0, color)
    elif motion == "drifting":
        draw_shape(
            frame,
            kind,
            (x0 + d * tau * 0.15 * width, y0 + 0.03 * height * math.sin(6 * tau)),
            size,
            0.0,
            color,
        )
    elif motion == "rotating":
        draw_shape(
            frame, "box" if kind == "ball" else kind, (x0, y0), size, d * tau * 4 * math.pi, color
        )
    elif motion == "static":
        draw_shape(frame, kind, (x0, y0), size, 0.0, color)
    elif motion == "dropping":
        fall = min(1.0, max(0.0, (tau - 0.3) / 0.45)) ** 2
        draw_shape(frame, kind, (x0, 0.15 * height + fall * 0.7 * height), size, 0.0, color)
    elif motion == "bouncing":
        hop = abs(math.sin(math.pi * 3 * tau))
        draw_shape(frame, "ball", (x0, 0.85 * height - hop * 0.55 * height), size, 0.0, color)
    elif motion == "flag":
        pole = (int(x0), int(0.2 * height)), (int(x0), int(0.9 * height))
        cv2.line(frame, pole[0], pole[1], (60, 60, 60), 2)
        for k in range(5):
            yy = 0.2 * height + k * size * 0.4
            wave = size * 0.4 * math.sin(2 * math.pi * (3 * tau) + k * 0.8)
            cv2.line(
                frame,
                (int(x0), int(yy)),
                (int(x0 + d * 2.5 * size), int(yy + wave)),
                color,
                max(2, int(size * 0.4)),
            )
    elif motion in ("touching", "colliding"):
        gap = max(0.0, 1.0 - tau / 0.5) * 0.35 * width
        if motion == "colliding" and tau > 0.5:
            gap = (tau - 0.5) * 0.5 * width  # bounce apart after impact
        cx = width / 2 + offset[0]
        draw_shape(frame, kind, (cx - size - gap, y0), size, 0.0, color)
        draw_shape(frame, kind, (cx + size + gap, y0), size, 0.0, params["color2"])
