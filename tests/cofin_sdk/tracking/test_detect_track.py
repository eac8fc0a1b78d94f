"""Detector.detect(track=True) end to end: a synthetic video of two people crossing, found
on every tracked frame by a colour detector (no ids given), tracked, scored at keyframes."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures import (
    CROSSING_BLUE,
    CROSSING_RED,
    ColourPeople,
    crossing_frames,
    crossing_positions,
    tiny_model,
)

from cofin_sdk.detector import Detector

FPS, SECONDS = 25, 4
RED, BLUE = CROSSING_RED, CROSSING_BLUE
positions = crossing_positions  # a 40-px wide person moves 1.75 widths between 1-s keyframes


def crossing_video() -> np.ndarray:
    return crossing_frames(FPS, SECONDS)


@pytest.fixture(scope="module")
def detector() -> Detector:
    model = tiny_model(heads={"ava": {"task": "detection", "num_classes": 3}}, image_size=32)
    return Detector(model, progress=False)


def colour_of(box: np.ndarray, t: float) -> tuple[int, int, int]:
    """Which person a box is: the one whose true left edge is nearer (or visible at all)."""
    return min(positions(t).items(), key=lambda kv: abs(kv[1] - box[0]))[0]


def test_ids_follow_people_through_a_crossing(detector: Detector) -> None:
    people = ColourPeople()
    result = detector.detect(
        crossing_video(), fps=FPS, track=True, track_fps=10, person_detector=people
    )
    assert result.track_ids.dtype == np.int64 and (result.track_ids > 0).all()
    ids_of: dict[tuple, set[int]] = {}
    for box, t, track in zip(result.boxes, result.timestamps, result.track_ids, strict=True):
        if t != 2.0:  # at 2 s they overlap fully: the box tells nothing about who it is
            ids_of.setdefault(colour_of(box, t), set()).add(int(track))
    assert ids_of[RED].isdisjoint(ids_of[BLUE])
    assert len(ids_of[RED]) == 1 and len(ids_of[BLUE]) == 1
    # people were looked for between keyframes (10 fps), but only keyframes were scored
    assert len(people.calls) >= 10 * (SECONDS - 1)
    assert sorted(set(result.timestamps.tolist())) == [0.0, 1.0, 2.0, 3.0]
    tracks = result.tracks()
    assert sorted(tracks) == sorted(set(result.track_ids.tolist()))
    assert all(np.all(np.diff(rows.timestamps) > 0) for rows in tracks.values())


def test_colours_bring_back_people_the_keyframe_rate_loses(detector: Detector) -> None:
    """At 1 fps these people move 1.75 widths per step: no overlap, so ByteTrack alone loses
    them (the default); their colours re-identify them (reid=True)."""
    result = detector.detect(
        crossing_video(), fps=FPS, track=True, track_fps=1, person_detector=ColourPeople(),
        reid=True,
    )  # fmt: skip
    ids_of: dict[tuple, set[int]] = {}
    for box, t, track in zip(result.boxes, result.timestamps, result.track_ids, strict=True):
        if t != 2.0:  # fully overlapping at 2 s
            ids_of.setdefault(colour_of(box, t), set()).add(int(track))
    assert len(ids_of[RED]) == 1 and len(ids_of[BLUE]) == 1
    assert ids_of[RED].isdisjoint(ids_of[BLUE]) and -1 not in ids_of[RED] | ids_of[BLUE]
    plain = detector.detect(
        crossing_video(), fps=FPS, track=True, track_fps=1, person_detector=ColourPeople(),
    )  # fmt: skip
    first = set(plain[plain.timestamps == 0.0].track_ids.tolist())
    last = set(plain[plain.timestamps == 3.0].track_ids.tolist())
    assert first.isdisjoint(last)  # by position alone everyone got a new id


def test_given_boxes_are_tracked_at_their_timestamps(detector: Detector) -> None:
    # above the walkers (grey wall): its look never changes, so only ByteTrack decides
    boxes = {float(t): [[40 + 20 * t, 0, 80 + 20 * t, 28]] for t in range(4)}
    result = detector.detect(crossing_video(), fps=FPS, boxes=boxes, track=True)
    assert result.track_ids.tolist() == [1, 1, 1, 1]
    timeline = result.timeline(threshold=0.0)  # every action "on": one segment per action
    assert {(s.track_id, s.start_s, s.end_s) for s in timeline} == {(1, 0.0, 3.5)}


def test_untracked_by_default(detector: Detector) -> None:
    result = detector.detect(crossing_video(), fps=FPS, boxes=[[10, 10, 50, 100]])
    assert (result.track_ids == -1).all() and result.tracks() == {}
    with pytest.raises(ValueError, match="track=True"):
        result.timeline()


def test_track_needs_a_detection_head() -> None:
    model = tiny_model(heads={"k400": {"task": "classification", "num_classes": 3}}, image_size=32)
    with pytest.raises(ValueError, match="track=True tracks people, which needs a detection head"):
        Detector(model, progress=False).analyze(crossing_video(), fps=FPS, track=True)


def test_given_ids_are_kept(detector: Detector) -> None:
    """Boxes that come with person ids (AVA column 8) keep them; scores reorder the boxes."""
    from cofin_sdk.person_detection import GivenBoxes

    boxes = {float(t): [[10, 30, 50, 140], [200, 30, 240, 140]] for t in range(3)}
    scores = {float(t): [0.6, 0.9] for t in range(3)}  # the second box comes first
    ids = {float(t): [7, 3] for t in range(3)}
    given = GivenBoxes(boxes, scores, ids=ids)
    result = detector.detect(crossing_video(), fps=FPS, person_detector=given, track=True)
    assert result.track_ids.tolist() == [3, 7] * 3
    assert result.boxes[0, 0] == 200  # id 3 stays with its box
    with pytest.raises(ValueError, match="ids at t=0.0: must be 2 integer person ids >= 0"):
        GivenBoxes(boxes, ids={0.0: [1], 1.0: [1, 2], 2.0: [1, 2]})
