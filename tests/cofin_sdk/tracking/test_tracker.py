"""The tracker adapter (cofin_sdk.tracking.PersonTracker) over supervision's ByteTrack:
people crossing, ids never reused, leaving and coming back, given ids, resets."""

from __future__ import annotations

import numpy as np
import pytest

from cofin_sdk.tracking import PersonTracker, check_track_fps

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
