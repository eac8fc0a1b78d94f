"""The tracker adapter (cofin_sdk.tracking.PersonTracker) over supervision's ByteTrack:
people crossing, ids never reused, leaving and coming back, given ids, resets."""

from __future__ import annotations

import numpy as np
import pytest

from cofin_sdk.tracking import PersonTracker, check_track_fps
from cofin_sdk.tracking.reid import REID_DISTANCE

FPS = 5.0  # the tracking rate: person boxes 5 times a second


def walker(x0: float, speed: float, t: float, y: float = 40.0) -> list[float]:
    """A 40x100 px person whose left edge is at ``x0 + speed * t``."""
    x = x0 + speed * t
    return [x, y, x + 40.0, y + 100.0]


def crossing(duration_s: float = 4.0) -> list[tuple[float, np.ndarray]]:
    """Two people walking towards each other on a 320-px line, overlapping mid-way."""
    frames = []
    for k in range(int(duration_s * FPS)):
        t = k / FPS
        frames.append((t, np.array([walker(10, 60, t, 40), walker(270, -60, t, 46)])))
    return frames


def test_ids_stay_with_people_who_cross() -> None:
    tracker = PersonTracker(fps=FPS)
    seen = []
    for t, boxes in crossing():
        seen.append(tracker.update(t, boxes, [0.9, 0.9]))
    seen = np.array(seen)  # (frames, 2): column 0 is the walker going right
    # boxes fully overlap in x around t = 2.17 s; the ids must not swap there
    assert (seen[:, 0] == seen[0, 0]).all() and (seen[:, 1] == seen[0, 1]).all()
    assert seen[0, 0] != seen[0, 1] and (seen > 0).all()


def test_an_id_is_never_reused_within_a_video() -> None:
    """Twelve people, one after the other, each on screen for 1 s somewhere else."""
    rng = np.random.default_rng(0)
    tracker = PersonTracker(fps=FPS, lost_track_s=0.4)
    ids_of: dict[int, set[int]] = {}
    for person in range(12):
        x0 = rng.uniform(0, 60) + 200 * (person % 2)  # alternate sides: no overlap
        for k in range(5):
            t = (5 * person + k) / FPS
            box = np.array([walker(x0, 10, k / FPS)])
            ids_of.setdefault(person, set()).update(
                int(i) for i in tracker.update(t, box, [0.9]) if i >= 0
            )
    assert all(len(ids) == 1 for ids in ids_of.values())  # one id per person
    every_id = [i for ids in ids_of.values() for i in ids]
    assert len(set(every_id)) == 12  # and no id handed to two people


def test_leaving_and_coming_back() -> None:
    """The library's rule: back within lost_track_s -> same id; later -> a new id."""
    tracker = PersonTracker(fps=FPS, lost_track_s=1.0)
    box = np.array([[100.0, 40.0, 140.0, 140.0]])
    none = np.zeros((0, 4))
    first = tracker.update(0.0, box, [0.9])[0]
    tracker.update(0.2, box, [0.9])
    for k in range(2, 5):  # gone for 0.6 s
        assert len(tracker.update(k / FPS, none, [])) == 0
    assert tracker.update(1.0, box, [0.9])[0] == first  # back within 1 s: same person
    for k in range(6, 20):  # gone for 2.8 s
        tracker.update(k / FPS, none, [])
    again = tracker.update(4.0, box, [0.9])
    again = tracker.update(4.2, box, [0.9])[0]
    assert again > first  # ByteTrack has no re-identification: a new, never-used id


def test_given_ids_are_kept_and_reset_starts_over() -> None:
    tracker = PersonTracker(fps=FPS)
    boxes = np.array([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    assert tracker.update(0.0, boxes, [1, 1], ids=[7, 3]).tolist() == [7, 3]
    first = tracker.update(0.2, boxes, [1, 1]).tolist()
    tracker.reset()
    assert tracker.update(0.0, boxes, [1, 1]).tolist() == first == [1, 2]


def test_low_scores_do_not_start_tracks() -> None:
    tracker = PersonTracker(fps=FPS, activation_threshold=0.5)
    box = np.array([[100.0, 40.0, 140.0, 140.0]])
    assert tracker.update(0.0, box, [0.2]).tolist() == [-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 0}, "fps=0: must be a positive"),
        ({"fps": 5, "lost_track_s": -1}, "lost_track_s=-1"),
        ({"fps": 5, "activation_threshold": 1.5}, "activation_threshold=1.5"),
    ],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PersonTracker(**kwargs)


def test_bad_updates() -> None:
    tracker = PersonTracker(fps=FPS)
    tracker.update(1.0, np.zeros((0, 4)), [])
    with pytest.raises(ValueError, match="not after the previous frame"):
        tracker.update(1.0, np.zeros((0, 4)), [])
    with pytest.raises(ValueError, match="1 boxes but 2 scores"):
        tracker.update(2.0, [[0, 0, 5, 5]], [0.5, 0.5])
    with pytest.raises(ValueError, match="track_fps=-2"):
        check_track_fps(-2)


# -- appearance re-identification (cofin_sdk.tracking.reid): frames given with the boxes --

GREY, RED, BLUE = (128, 128, 128), (220, 30, 30), (30, 30, 220)


def scene(people: dict[tuple[int, int, int], float], noise_seed: int = 0) -> tuple:
    """A 320x160 grey frame with 40x100 people of the given colours at the given left edges."""
    rng = np.random.default_rng(noise_seed)
    frame = np.clip(rng.normal(128, 12, (160, 320, 3)), 0, 255).astype(np.uint8)  # textured wall
    boxes = []
    for colour, x in people.items():
        frame[30:130, int(x) : int(x) + 40] = colour
        boxes.append([x, 30.0, x + 40.0, 130.0])
    return frame, np.array(boxes).reshape(-1, 4)


def test_a_person_who_comes_back_gets_their_id_back() -> None:
    """Red leaves for 3 s (ByteTrack drops them after 1 s), blue arrives; red returns elsewhere."""
    tracker = PersonTracker(fps=FPS, lost_track_s=1.0, reid_distance=REID_DISTANCE)
    plain = PersonTracker(fps=FPS, lost_track_s=1.0)
    timeline = [(k / FPS, {RED: 20.0 + 2 * k}) for k in range(5)]
    timeline += [(k / FPS, {}) for k in range(5, 10)]
    timeline += [(k / FPS, {BLUE: 150.0}) for k in range(10, 20)]
    timeline += [(k / FPS, {BLUE: 150.0, RED: 250.0}) for k in range(20, 25)]
    ids, plain_ids = [], []
    for k, (t, people) in enumerate(timeline):
        frame, boxes = scene(people, k)
        ids.append(dict(zip(people, tracker.update(t, boxes, [0.9] * len(boxes), frame=frame))))
        plain_ids.append(dict(zip(people, plain.update(t, boxes, [0.9] * len(boxes)))))
    red_before, red_after = ids[0][RED], ids[-1][RED]
    assert red_after == red_before  # re-identified by colour
    assert ids[-1][BLUE] not in (red_before, -1)
    assert plain_ids[-1][RED] != plain_ids[0][RED]  # without pixels: the library's new id


def test_ids_follow_colours_across_a_shot_cut() -> None:
    """At a cut red and blue swap places: by position ByteTrack would swap their ids."""
    tracker, plain = PersonTracker(fps=FPS, reid_distance=REID_DISTANCE), PersonTracker(fps=FPS)
    seen, plain_seen = [], []
    for k in range(10):
        people = {RED: 40.0, BLUE: 220.0} if k < 5 else {RED: 220.0, BLUE: 40.0}
        frame, boxes = scene(people, k)
        seen.append(dict(zip(people, tracker.update(k / FPS, boxes, [0.9, 0.9], frame=frame))))
        plain_seen.append(dict(zip(people, plain.update(k / FPS, boxes, [0.9, 0.9]))))
    assert {s[RED] for s in seen} == {seen[0][RED]}
    assert {s[BLUE] for s in seen} == {seen[0][BLUE]} != {seen[0][RED]}
    assert plain_seen[-1][RED] == plain_seen[0][BLUE]  # by position alone: swapped


def test_people_without_colour_are_left_to_bytetrack() -> None:
    """Two grey people cannot be told apart by colour: one who comes back gets a new id."""
    tracker = PersonTracker(fps=FPS, lost_track_s=0.4, reid_distance=REID_DISTANCE)
    dark = (40, 40, 40)
    first = None
    for k in range(3):
        frame, boxes = scene({dark: 20.0}, k)
        first = tracker.update(k / FPS, boxes, [0.9], frame=frame)[0]
    for k in range(3, 8):
        frame, _ = scene({}, k)
        tracker.update(k / FPS, np.zeros((0, 4)), [], frame=frame)
    for k in range(8, 11):
        frame, boxes = scene({dark: 250.0}, k)
        again = tracker.update(k / FPS, boxes, [0.9], frame=frame)[0]
    assert again > first


def test_appearance_ignores_grey_and_degenerate_boxes() -> None:
    from cofin_sdk.tracking.reid import appearance

    frame, boxes = scene({RED: 20.0, (40, 40, 40): 100.0})
    looks = appearance(frame, np.vstack([boxes, [[300, 10, 300, 10]], [[-50, -50, -10, -10]]]))
    assert looks.shape == (4, 36) and np.isclose(np.linalg.norm(looks[0]), 1.0)
    assert not looks[1:].any()  # grey person, empty box, box outside the frame: no look


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_distance": 0.0}, "need 0 < max_distance"),
        ({"max_distance": 0.5, "switch_distance": 0.2}, "need 0 < max_distance"),
        ({"window_s": -1}, "window_s=-1"),
    ],
)
def test_bad_reid_settings(kwargs: dict, message: str) -> None:
    from cofin_sdk.tracking.reid import AppearanceReid

    with pytest.raises(ValueError, match=message):
        AppearanceReid(**kwargs)
