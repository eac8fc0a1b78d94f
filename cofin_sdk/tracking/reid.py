"""Appearance re-identification on top of ByteTrack: who comes back keeps their id.

ByteTrack associates boxes by position (a Kalman-predicted box and IoU), so a person who
leaves and returns, or who is placed elsewhere by a shot cut, gets a new id. Between shots
nothing but appearance says who is who. This module adds the missing step, by hand because
no permissive library that installs beside numpy < 2 offers it (``trackers``' DeepSORT needs
numpy >= 2 and a downloaded re-id network): each person's look is the hue histogram of the
coloured pixels inside their box (OpenCV's ``calcHist``; grey walls and floor left out,
smoothed round the colour circle), compared by ``1 - cosine`` (0 = the same colours, 1 =
none shared) and kept per id as a running average. Colour is a weak cue on real footage
(two people in the same coat), hence the conservative thresholds; people without colour
(grey, black) are left to ByteTrack.

The rule, applied to every frame that comes with pixels:

* a box ByteTrack has just started (a new ByteTrack id), or a confident box ByteTrack has
  not confirmed yet (it waits for a second frame), takes the id of the most similar
  person *not on screen in this frame* seen within ``window_s``, if the distance is at most
  ``max_distance``; otherwise a new id (ids still count up from 1 and are never handed to
  two people at once);
* a box continuing a ByteTrack track whose look has changed beyond ``switch_distance`` from
  its id's average (ByteTrack carried a track across a cut onto someone else) is treated as
  a new arrival, as above;
* greedy assignment, most similar pair first.

Frames without pixels (look-up boxes without video) pass ByteTrack's ids through unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["REID_DISTANCE", "AppearanceReid", "appearance"]

_HUE_BINS = 36  # 10 degrees each; OpenCV's 8-bit hue is 0..179
# The torso: the part of a person box that is clothes rather than background, neighbours,
# head or legs (fractions of the box: x from _TORSO_X to 1 - _TORSO_X, y in _TORSO_Y).
_TORSO_X, _TORSO_Y = 0.25, (0.15, 0.6)
# Circular Gaussian smoothing of the hue histogram (sigma 1.5 bins): a colour on a bin
# boundary, or shifted a little by compression, still matches itself.
_SMOOTH = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2).astype(np.float32)
_MOMENTUM = 0.8  # weight of the running average per new observation
# Pixels with saturation and value at least these carry colour; if fewer than _MIN_COLOURED
# of a torso's pixels do (people in grey or black), the box has no look and matches nobody.
# Strict on purpose: on street footage (OpenCV's vtest.avi) looser settings (60, 0.05) let
# skin, cones and grass make everyone in a dark coat look alike.
_MIN_SATURATION, _MIN_VALUE = 80, 40
_MIN_COLOURED, _MIN_PIXELS = 0.3, 3
#: The default largest look distance (``1 - cosine``) of a re-identification.
REID_DISTANCE = 0.25


def appearance(frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``float32 [N, 36]`` unit-length hue histograms of the coloured pixels of the boxes'
    torsos (the middle half of the width, 15-60 % of the height: clothes, little background).

    A box with too few coloured pixels (people in grey or black) gets a zero row, which
    matches nobody: such people keep ByteTrack's ids.

    Args:
        frame: ``uint8 [H, W, 3]`` RGB frame.
        boxes: ``[N, 4]`` ``x1, y1, x2, y2`` pixels of that frame (clipped to it here).
    """
    height, width = frame.shape[:2]
    hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
    out = np.zeros((len(boxes), _HUE_BINS), np.float32)
    for row, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        dx, box_height = _TORSO_X * (x2 - x1), y2 - y1
        left, right = int(np.clip(x1 + dx, 0, width - 1)), int(np.clip(x2 - dx, 1, width))
        top = int(np.clip(y1 + _TORSO_Y[0] * box_height, 0, height - 1))
        bottom = int(np.clip(y1 + _TORSO_Y[1] * box_height, 1, height))
        if right <= left or bottom <= top:
            continue
        patch = np.ascontiguousarray(hsv[top:bottom, left:right])
        mask = _coloured(patch)
        if mask is None:
            continue
        hist = cv2.calcHist([patch], [0], mask, [_HUE_BINS], [0, 180]).reshape(-1)
        half = len(_SMOOTH) // 2
        hist = sum(w * np.roll(hist, k - half) for k, w in enumerate(_SMOOTH))
        out[row] = hist / max(float(np.linalg.norm(hist)), 1e-12)
    return out


def _coloured(patch: np.ndarray) -> np.ndarray | None:
    """Mask of the patch's coloured pixels (clothes, not grey walls), if there are enough."""
    mask = ((patch[..., 1] >= _MIN_SATURATION) & (patch[..., 2] >= _MIN_VALUE)).astype(np.uint8)
    return mask if mask.mean() >= _MIN_COLOURED and mask.sum() >= _MIN_PIXELS else None


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """``1 - cosine`` of two looks (0 = same colours); ``inf`` if either has no colour."""
    if not a.any() or not b.any():
        return math.inf
    return float(1.0 - a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass
class _Person:
    look: np.ndarray  # running-average histogram
    last_seen: float


class AppearanceReid:
    """Maps one tracker's ByteTrack ids to person ids, re-identifying by colour (see module).

    Args:
        max_distance: Largest colour distance (``1 - cosine``) at which a new track is
            taken for a person seen before.
        switch_distance: Distance from its person's look beyond which a continuing track is
            taken to have jumped to someone else.
        window_s: Seconds a person who left stays re-identifiable (bounds memory on streams).

    Raises:
        ValueError: Distances outside (0, 1] or ``switch_distance < max_distance``, or a
            negative window.
    """

    def __init__(
        self,
        max_distance: float = REID_DISTANCE,
        switch_distance: float = 0.3,
        window_s: float = 60.0,
    ) -> None:
        if not 0 < max_distance <= switch_distance <= 1:
            raise ValueError(
                f"reid distances {max_distance!r}, {switch_distance!r}: need "
                "0 < max_distance <= switch_distance <= 1 (colour distance, 1 - cosine)"
            )
        if not window_s >= 0:
            raise ValueError(f"reid window_s={window_s!r}: must be >= 0 seconds")
        self.max_distance, self.switch_distance, self.window_s = (
            max_distance,
            switch_distance,
            window_s,
        )
        self.reset()

    def reset(self) -> None:
        """Forgets everyone (a new video or stream)."""
        self._people: dict[int, _Person] = {}
        self._alias: dict[int, int] = {}  # ByteTrack id -> person id
        self._next_id = 0

    def assign(
        self,
        time: float,
        track_ids: np.ndarray,
        looks: np.ndarray | None,
        confident: np.ndarray | None = None,
    ) -> np.ndarray:
        """Person ids for one frame's ByteTrack ids (``-1`` stays ``-1``).

        Args:
            time: The frame's time in seconds (after the previous frame's).
            track_ids: ``int64 [N]`` ByteTrack ids of the frame's boxes.
            looks: ``[N, D]`` :func:`appearance` of those boxes, or ``None`` (no pixels:
                no re-identification, ids only renumbered consistently).
            confident: Optional ``bool [N]``: boxes scored high enough to start a track. An
                untracked one (ByteTrack waits a second frame before it confirms a new
                track) whose look matches someone absent is that person, back.
        """
        self._forget(time)
        out = np.full(len(track_ids), -1, np.int64)
        open_rows = []
        returning = []  # untracked but confident: re-identified or left untracked
        for row, track in enumerate(track_ids.tolist()):
            if track < 0:
                if confident is not None and confident[row]:
                    returning.append(row)
                continue
            person = self._alias.get(track)
            if person is not None and (looks is None or not self._jumped(person, looks[row])):
                out[row] = person
            else:
                open_rows.append(row)
        if looks is not None:
            self._reidentify(open_rows + returning, out, looks)
        for row in returning:
            if out[row] >= 0:
                self._observe(int(out[row]), time, looks[row])
        for row in open_rows:
            if out[row] < 0:
                self._next_id += 1
                out[row] = self._next_id
        for row, track in enumerate(track_ids.tolist()):
            if track >= 0:
                self._alias[track] = int(out[row])
                self._observe(int(out[row]), time, None if looks is None else looks[row])
        return out

    def _jumped(self, person: int, look: np.ndarray) -> bool:
        known = self._people.get(person)
        if known is None or not known.look.any() or not look.any():
            return False  # no colour to compare: trust ByteTrack
        return _distance(known.look, look) > self.switch_distance

    def _reidentify(self, rows: list[int], out: np.ndarray, looks: np.ndarray) -> None:
        """Greedy: the closest (open box, absent person) pair first, within max_distance."""
        on_screen = set(out[out >= 0].tolist())
        absent = [p for p in self._people if p not in on_screen]
        pairs = sorted(
            (_distance(self._people[p].look, looks[row]), row, p) for row in rows for p in absent
        )
        taken_rows: set[int] = set()
        taken_people: set[int] = set()
        for distance, row, person in pairs:
            if distance > self.max_distance:
                break
            if row in taken_rows or person in taken_people:
                continue
            out[row] = person
            taken_rows.add(row)
            taken_people.add(person)

    def _observe(self, person: int, time: float, look: np.ndarray | None) -> None:
        known = self._people.get(person)
        if look is None or not look.any():
            if known is not None:
                known.last_seen = time
            return
        if known is None or not known.look.any():
            self._people[person] = _Person(look.copy(), time)
            return
        known.look = _MOMENTUM * known.look + (1 - _MOMENTUM) * look
        known.last_seen = time

    def _forget(self, time: float) -> None:
        gone = [p for p, k in self._people.items() if time - k.last_seen > self.window_s]
        for person in gone:
            del self._people[person]
        if gone:
            dropped = set(gone)
            self._alias = {t: p for t, p in self._alias.items() if p not in dropped}
