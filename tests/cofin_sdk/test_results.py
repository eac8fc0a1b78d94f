"""Tests for cofin_sdk.results: validation table, indexing, exports, drawing, video."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cofin_sdk.results import Classifications, Detections

RESULTS_PY = Path(__file__).resolve().parents[2] / "cofin_sdk" / "results" / "detections.py"
CLASSES = ("stand", "sit", "talk")
FRAME = (333, 251)  # odd (W, H) on purpose


def make_kwargs(**overrides):
    kwargs = dict(
        boxes=[[0.0, 0.0, 333.0, 251.0], [111.0, 50.2, 222.0, 200.8], [10.0, 10.0, 20.0, 30.0]],
        person_scores=[0.99, 0.8, 0.5],
        action_scores=[[0.9, 0.05, 0.4], [0.1, 0.75, 0.6], [0.2, 0.3, 0.1]],
        class_names=CLASSES,
        frame_size=FRAME,
        timestamps=[2.0, 2.0, 2.5],
        video_id="vid1",
    )
    kwargs.update(overrides)
    return kwargs


def make(**overrides) -> Detections:
    return Detections(**make_kwargs(**overrides))


# ------------------------------------------------------------------ validation table
VALIDATION_CASES = [
    ("good", {}, None),
    ("good_empty_lists", dict(boxes=[], person_scores=[], action_scores=[], timestamps=[]), None),
    ("good_person_ids", dict(person_ids=[3, 4, 5]), None),
    ("good_class_ids", dict(class_ids=(1, 5, 80)), None),
    ("good_box_on_border_rounding", dict(boxes=[[0, 0, 333.005, 251.0]] * 3), None),
    ("boxes_wrong_width", dict(boxes=[[0, 0, 10]] * 3), "boxes must have shape [N, 4]"),
    ("boxes_1d", dict(boxes=[0, 0, 10, 10]), "boxes must have shape [N, 4]"),
    ("boxes_nan", dict(boxes=[[0, 0, np.nan, 10]] * 3), "boxes contains NaN"),
    ("boxes_inf", dict(boxes=[[0, 0, np.inf, 10]] * 3), "boxes contains NaN or infinite"),
    ("boxes_not_numeric", dict(boxes=[["a", 0, 1, 1]] * 3), "boxes must be a numeric array"),
    ("boxes_x2_lt_x1", dict(boxes=[[50, 0, 49, 10]] * 3), "x1 <= x2"),
    ("boxes_y2_lt_y1", dict(boxes=[[0, 20, 10, 10]] * 3), "y1 <= y2"),
    ("boxes_outside_right", dict(boxes=[[0, 0, 337, 10]] * 3), "must lie in the 333x251 frame"),
    ("boxes_negative", dict(boxes=[[-5, 0, 10, 10]] * 3), "must lie in the 333x251 frame"),
    (
        "boxes_normalised_by_mistake",
        dict(boxes=[[0.1, 0.1, 0.5, 0.5]] * 2 + [[0, 0, 400, 1]]),
        "normalised boxes?",
    ),
    (
        "boxes_too_few_rows",
        dict(boxes=[[0, 0, 10, 10]] * 2),
        "person_scores has 3 rows but boxes has 2",
    ),
    (
        "person_scores_above_1",
        dict(person_scores=[0.5, 1.5, 0.2]),
        "person_scores must be probabilities",
    ),
    ("person_scores_nan", dict(person_scores=[0.5, np.nan, 0.2]), "person_scores contains NaN"),
    (
        "person_scores_2d",
        dict(person_scores=[[0.5, 0.5, 0.2]]),
        "person_scores must have shape [N]",
    ),
    (
        "action_scores_negative",
        dict(action_scores=[[-0.1, 0, 0]] * 3),
        "action_scores must be probabilities",
    ),
    ("action_scores_logits", dict(action_scores=[[3.0, -2.0, 0.0]] * 3), "apply a sigmoid"),
    (
        "action_scores_wrong_columns",
        dict(action_scores=[[0.1, 0.2]] * 3),
        "action_scores has 2 columns but class_names has 3",
    ),
    (
        "action_scores_wrong_rows",
        dict(action_scores=[[0.1, 0.2, 0.3]] * 2),
        "action_scores has 2 rows",
    ),
    (
        "class_names_mismatch",
        dict(class_names=("a", "b")),
        "action_scores has 3 columns but class_names has 2",
    ),
    ("class_names_duplicate", dict(class_names=("a", "a", "b")), "class_names must be unique"),
    ("class_names_str", dict(class_names="abc"), "class_names must be a sequence of str"),
    ("class_names_empty", dict(class_names=()), "class_names must not be empty"),
    (
        "class_ids_wrong_length",
        dict(class_ids=(1, 2)),
        "class_ids has 2 entries but class_names has 3",
    ),
    ("class_ids_zero", dict(class_ids=(0, 1, 2)), "unique positive integers"),
    ("class_ids_duplicate", dict(class_ids=(1, 1, 2)), "unique positive integers"),
    ("timestamps_wrong_length", dict(timestamps=[1.0]), "timestamps has 1 rows but boxes has 3"),
    ("timestamps_negative", dict(timestamps=[-1.0, 0.0, 0.0]), "timestamps must be >= 0"),
    ("timestamps_nan", dict(timestamps=[np.nan, 0.0, 0.0]), "timestamps contains NaN"),
    ("frame_size_zero", dict(frame_size=(0, 10)), "frame_size must be positive"),
    ("frame_size_bad", dict(frame_size=(10,)), "frame_size must be (W, H)"),
    ("person_ids_wrong_length", dict(person_ids=[1, 2]), "person_ids has 2 rows"),
    ("detector_empty", dict(detector=""), "detector a non-empty str"),
    ("threshold_out_of_range", dict(threshold=1.5), "threshold must be in [0, 1]"),
]


@pytest.mark.parametrize(
    ("overrides", "error"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES]
)
def test_detections_validation_table(overrides, error):
    if error is None:
        kwargs = make_kwargs(**overrides)
        detections = Detections(**kwargs)
        assert detections.boxes.dtype == np.float32 and detections.boxes.shape[1] == 4
        assert detections.action_scores.shape == (len(detections), len(detections.class_names))
        assert detections.timestamps.dtype == np.float64
        # The given values come back (boxes clipped to the frame: border rounding).
        given_boxes = np.asarray(kwargs["boxes"], np.float32).reshape(-1, 4)
        np.testing.assert_array_equal(detections.boxes, np.minimum(given_boxes, FRAME * 2))
        np.testing.assert_allclose(
            detections.action_scores, np.reshape(kwargs["action_scores"], (-1, 3)), rtol=1e-6
        )
        np.testing.assert_array_equal(detections.timestamps, kwargs["timestamps"])
        assert detections.class_ids == kwargs.get("class_ids", (1, 2, 3))
        if "person_ids" in kwargs:
            assert detections.person_ids.tolist() == kwargs["person_ids"]
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            make(**overrides)


def test_defaults_class_ids_and_dtypes():
    detections = make()
    assert detections.class_ids == (1, 2, 3)
    assert detections.person_scores.dtype == np.float32
    assert detections.detector == "given"


# ------------------------------------------------------------------ container behaviour
def test_len_index_mask_slice():
    detections = make(person_ids=[7, 8, 9])
    assert len(detections) == 3
    one = detections[1]
    assert isinstance(one, Detections) and len(one) == 1
    assert one.person_ids.tolist() == [8]
    assert detections[-1].timestamps.tolist() == [2.5]
    masked = detections[detections.person_scores > 0.6]
    assert masked.person_ids.tolist() == [7, 8]
    assert len(detections[1:]) == 2
    assert detections[[2, 0]].person_ids.tolist() == [9, 7]
    assert len(detections[np.zeros(3, bool)]) == 0
    assert len(detections[[]]) == 0
    assert [len(d) for d in detections] == [1, 1, 1]
    with pytest.raises(IndexError):
        detections[3]
    with pytest.raises(IndexError, match="boolean mask"):
        detections[np.array([True, False])]


def test_indexing_does_not_alias_metadata():
    detections = make()
    subset = detections[[0]]
    assert subset.class_names == detections.class_names and subset.frame_size == FRAME
    assert subset.video_id == "vid1"


def test_empty():
    empty = Detections.empty(CLASSES, frame_size=FRAME, video_id="v", detector="opencv_hog")
    assert len(empty) == 0
    assert empty.action_scores.shape == (0, 3)
    assert empty.top_actions() == []
    assert empty.to_ava_csv() == ""
    assert empty.keyframes() == []
    assert Detections.from_json(empty.to_json()) == empty


def test_merge():
    detections = make(person_ids=[1, 2, 3])
    merged = Detections.merge([detections[:1], detections[1:]])
    assert merged == detections
    empty = Detections.empty(CLASSES, frame_size=FRAME, video_id="vid1")
    assert Detections.merge([empty, make()]) == make()


@pytest.mark.parametrize(
    ("other", "error"),
    [
        (dict(class_names=("a", "b", "c")), "different class_names"),
        (dict(frame_size=(640, 480)), "different frame_size"),
        (dict(video_id="other"), "different video_id"),
        (dict(detector="opencv_hog"), "different detector"),
        (dict(person_ids=[1, 2, 3]), "only some have person_ids"),
    ],
)
def test_merge_rejects_mismatches(other, error):
    with pytest.raises(ValueError, match=error):
        Detections.merge([make(), make(**other)])


def test_merge_empty_list():
    with pytest.raises(ValueError, match="at least one"):
        Detections.merge([])


# ------------------------------------------------------------------ queries
def test_top_actions_and_threshold():
    detections = make()
    assert detections.top_actions(2)[0] == [("stand", 0.9), ("talk", 0.4)]
    assert detections.top_actions(5)[2] == [("sit", 0.3), ("stand", 0.2), ("talk", 0.1)]
    filtered = detections.filter(0.5)
    assert len(filtered) == len(detections)  # boxes are kept
    assert np.array_equal(filtered.action_scores, detections.action_scores)
    assert filtered.top_actions(3) == [[("stand", 0.9)], [("sit", 0.75), ("talk", 0.6)], []]
    assert filtered.labels() == ["stand 0.90", "sit 0.75, talk 0.60", ""]
    assert detections.top_actions(1, threshold=0.8) == [[("stand", 0.9)], [], []]
    with pytest.raises(ValueError, match="k must be >= 1"):
        detections.top_actions(0)


def test_max_action_scores_drop_boxes_by_mask():
    detections = make()
    np.testing.assert_allclose(detections.max_action_scores, [0.9, 0.75, 0.3])
    assert len(detections[detections.max_action_scores >= 0.5]) == 2


def test_keyframes_and_at():
    detections = make()
    groups = detections.keyframes()
    assert [t for t, _ in groups] == [2.0, 2.5]
    assert [len(g) for _, g in groups] == [2, 1]
    assert len(detections.at(2.1)) == 2
    assert len(detections.at(2.4)) == 1
    assert len(detections.at(4.0)) == 0
    assert len(detections.at(3.2, tolerance=1.0)) == 1


# ------------------------------------------------------------------ exports
# Round-trip and parity tests compare with ==; each field must be able to break equality.
EQUALITY_CHANGES = {
    "boxes": dict(boxes=[[0.0, 0.0, 333.0, 251.0], [111.0, 50.2, 222.0, 200.9], [10, 10, 20, 30]]),
    "person_scores": dict(person_scores=[0.99, 0.8, 0.51]),
    "action_scores": dict(action_scores=[[0.9, 0.05, 0.4], [0.1, 0.75, 0.6], [0.2, 0.3, 0.11]]),
    "timestamps": dict(timestamps=[2.0, 2.0, 2.6]),
    "person_ids": dict(person_ids=[1, 2, 4]),
    "class_names": dict(class_names=("stand", "sit", "talk_to")),
    "class_ids": dict(class_ids=(1, 2, 4)),
    "frame_size": dict(frame_size=(334, 251)),
    "video_id": dict(video_id="vid2"),
    "detector": dict(detector="opencv_hog"),
    "threshold": dict(threshold=0.3),
}


@pytest.mark.parametrize("field", sorted(EQUALITY_CHANGES))
def test_equality_sees_every_field(field):
    base = dict(person_ids=[1, 2, 3], class_ids=(1, 2, 3), threshold=0.5)
    assert make(**base) == make(**base)
    assert make(**base) != make(**{**base, **EQUALITY_CHANGES[field]})


@pytest.mark.parametrize(
    "change",
    [
        dict(head="other"),
        dict(class_names=("dance", "run", "walk")),
        dict(clip_probabilities=[[0.1, 0.6, 0.3], [0.3, 0.4, 0.3]], clip_times=[1.0, 2.5]),
        dict(clip_probabilities=[[0.1, 0.6, 0.3], [0.3, 0.35, 0.35]]),
        dict(video_id="w"),
    ],
)
def test_classifications_equality_sees_every_field(change):
    base = dict(
        head="k400",
        class_names=("dance", "run", "sit"),
        clip_probabilities=[[0.1, 0.6, 0.3], [0.3, 0.4, 0.3]],
        clip_times=[1.0, 3.0],
        video_id="v",
    )
    assert Classifications(**base) == Classifications(**base)
    assert Classifications(**base) != Classifications(**{**base, **change})


def test_json_round_trip(tmp_path):
    detections = make(
        person_ids=[1, 2, 3], class_ids=(4, 5, 80), detector="opencv_hog", threshold=0.3
    )
    text = detections.to_json()
    assert json.loads(text)["detector"] == "opencv_hog"
    restored = Detections.from_json(text)
    assert restored == detections
    assert restored.boxes.dtype == np.float32
    path = tmp_path / "det.json"
    detections.to_json(path, indent=2)
    assert Detections.from_json(path) == detections


def test_from_json_rejects_other_documents():
    with pytest.raises(ValueError, match="not a cofin detections dict"):
        Detections.from_json('{"boxes": []}')


# Written by hand: boxes / (333, 251, 333, 251); 2.0 s + 900 -> "902", 2.5 s -> "902.500000".
EXPECTED_AVA_CSV = """\
vid1,902,0.000000,0.000000,1.000000,1.000000,1,0.900000
vid1,902,0.000000,0.000000,1.000000,1.000000,2,0.050000
vid1,902,0.000000,0.000000,1.000000,1.000000,3,0.400000
vid1,902,0.333333,0.200000,0.666667,0.800000,1,0.100000
vid1,902,0.333333,0.200000,0.666667,0.800000,2,0.750000
vid1,902,0.333333,0.200000,0.666667,0.800000,3,0.600000
vid1,902.500000,0.030030,0.039841,0.060060,0.119522,1,0.200000
vid1,902.500000,0.030030,0.039841,0.060060,0.119522,2,0.300000
vid1,902.500000,0.030030,0.039841,0.060060,0.119522,3,0.100000
"""


def test_to_ava_csv_matches_hand_written(tmp_path):
    detections = make()
    path = tmp_path / "sub.csv"
    text = detections.to_ava_csv(path, timestamp_offset=900)
    assert text == EXPECTED_AVA_CSV
    assert path.read_text() == EXPECTED_AVA_CSV
    buffer = io.StringIO()
    detections.to_ava_csv(buffer, timestamp_offset=900)
    assert buffer.getvalue() == EXPECTED_AVA_CSV


def test_to_ava_csv_options():
    detections = make(class_ids=(1, 12, 80))
    text = detections.to_ava_csv(video_id="other", min_score=0.6)
    assert text.splitlines() == [
        "other,2,0.000000,0.000000,1.000000,1.000000,1,0.900000",
        "other,2,0.333333,0.200000,0.666667,0.800000,12,0.750000",
        "other,2,0.333333,0.200000,0.666667,0.800000,80,0.600000",
    ]
    # the reporting threshold does not thin the submission (AVA mAP wants every class)
    assert detections.filter(0.95).to_ava_csv().count("\n") == 9
    with pytest.raises(ValueError, match="needs a video_id"):
        make(video_id="").to_ava_csv()


def test_to_pandas():
    frame = make(person_ids=[1, 2, 3]).to_pandas()
    assert list(frame.columns) == [
        "video_id",
        "timestamp",
        "x1",
        "y1",
        "x2",
        "y2",
        "person_score",
        "person_id",
        "track_id",
        *CLASSES,
    ]
    assert len(frame) == 3
    assert frame["track_id"].tolist() == [-1, -1, -1]  # untracked
    assert frame["sit"].tolist() == pytest.approx([0.05, 0.75, 0.3])


def test_to_pandas_missing_pandas_names_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` raise ImportError
    with pytest.raises(ImportError, match=r"cofin-sdk\[train\]"):
        make().to_pandas()


# ------------------------------------------------------------------ no torch needed
@pytest.mark.parametrize("module", ["detections.py", "classifications.py", "_common.py"])
def test_results_module_has_no_torch_import_statically(module):
    tree = ast.parse((RESULTS_PY.parent / module).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"torch", "torchvision", "av", "cv2"}


def test_results_module_works_without_torch_in_a_fresh_interpreter():
    """Imports cofin_sdk.results without running cofin_sdk/__init__ (which imports torch)."""
    code = textwrap.dedent(f"""
        import importlib, sys, types
        package = types.ModuleType("cofin_sdk")  # bare package: submodules only
        package.__path__ = [{str(RESULTS_PY.parents[1])!r}]
        sys.modules["cofin_sdk"] = package
        module = importlib.import_module("cofin_sdk.results")
        d = module.Detections([[0, 0, 5, 5]], [1.0], [[0.5]], ("a",), (10, 10), [0.0], video_id="v")
        assert module.Detections.from_json(d.to_json()) == d
        d.to_ava_csv()
        module.Classifications("h", ("a", "b"), [0.3, 0.7]).top_k(1)
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ------------------------------------------------------------------ drawing
def test_draw_changes_pixels_on_box_and_not_far_away():
    detections = make(
        boxes=[[40, 60, 140, 200]],
        person_scores=[0.9],
        action_scores=[[0.9, 0.1, 0.2]],
        timestamps=[0.0],
    )
    frame = np.zeros((FRAME[1], FRAME[0], 3), np.uint8)
    out = detections.draw(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not frame.any(), "draw must not modify its input"
    assert out[100:160, 40].any() and out[100:160, 140].any()  # left/right edges
    assert out[60, 60:120].any() and out[200, 60:120].any()  # top/bottom edges
    assert out[45:60, 40:100].any()  # label background above the box
    assert not out[230:, 250:].any()  # far from the box
    assert not out[120:180, 60:120].any()  # box interior stays clear


def test_draw_label_fits_when_box_touches_top():
    detections = make(
        boxes=[[0, 0, 50, 50]],
        person_scores=[0.9],
        action_scores=[[0.9, 0.1, 0.2]],
        timestamps=[0.0],
    )
    out = detections.draw(np.zeros((FRAME[1], FRAME[0], 3), np.uint8))
    assert out[5:15, 5:40].any()  # label drawn inside the box instead of off-frame


def test_draw_rejects_wrong_frame():
    with pytest.raises(ValueError, match="to match frame_size"):
        make().draw(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        make().draw(np.zeros((FRAME[1], FRAME[0], 3), np.float32))


# ------------------------------------------------------------------ annotated video
def _box_edge_change(frame: np.ndarray, background: int = 90) -> int:
    """Largest change from the flat background around the box's left edge (x = 10)."""
    return int(np.abs(frame[15:35, 8:13].astype(np.int32) - background).max())


@pytest.fixture
def video_detections():
    # 64x48 frames at 4 fps, 12 frames (t = 0 .. 2.75 s); one keyframe at t = 1.0 s.
    return Detections(
        boxes=[[10, 10, 50, 40]],
        person_scores=[1.0],
        action_scores=[[0.9, 0.2, 0.1]],
        class_names=CLASSES,
        frame_size=(64, 48),
        timestamps=[1.0],
        video_id="v",
    )


def test_save_video_from_array(tmp_path, video_detections):
    video = pytest.importorskip("cofin_sdk.io.video")
    frames = np.full((12, 48, 64, 3), 90, np.uint8)
    out = video_detections.save_video(tmp_path / "out.mp4", frames, fps=4.0)
    decoded = [frame for _, frame in video.iter_frames(out)]
    assert len(decoded) == 12
    assert decoded[0].shape == (48, 64, 3)
    # frames at 0.5 .. 1.5 s (indices 2..6) are annotated, the others are not
    annotated = [_box_edge_change(f) > 40 for f in decoded]  # codec noise is a few levels
    assert annotated == [i in range(2, 7) for i in range(12)]


def test_save_video_from_file_reads_fps(tmp_path, video_detections):
    video = pytest.importorskip("cofin_sdk.io.video")
    source = tmp_path / "src.mp4"
    video.write_video(source, np.full((10, 48, 64, 3), 90, np.uint8), fps=5.0)
    out = video_detections.save_video(tmp_path / "out.mp4", source)
    info = video.probe(out)
    assert info.num_frames == 10 and info.fps == pytest.approx(5.0)
    with source.open("rb") as handle:  # a file object works too
        video_detections.save_video(tmp_path / "out2.mp4", handle)
    assert video.probe(tmp_path / "out2.mp4").num_frames == 10


def test_save_video_needs_fps_for_arrays(tmp_path, video_detections):
    with pytest.raises(ValueError, match="fps is required"):
        video_detections.save_video(tmp_path / "o.mp4", np.zeros((2, 48, 64, 3), np.uint8))


# ------------------------------------------------------------------ classifications
CLASSIFICATION_CASES = [
    ("good_one_clip", dict(clip_probabilities=[0.1, 0.6, 0.3]), None),
    (
        "good_two_clips",
        dict(clip_probabilities=[[0.1, 0.6, 0.3], [0.3, 0.4, 0.3]], clip_times=[1, 2]),
        None,
    ),
    ("wrong_classes", dict(clip_probabilities=[0.5, 0.5]), "shape [N, 3]"),
    ("nan", dict(clip_probabilities=[np.nan, 0.5, 0.5]), "contains NaN"),
    ("logits", dict(clip_probabilities=[2.0, -1.0, 0.0]), "must be probabilities in [0, 1]"),
    ("no_clips", dict(clip_probabilities=np.zeros((0, 3))), "at least one clip"),
    (
        "times_mismatch",
        dict(clip_probabilities=[0.1, 0.6, 0.3], clip_times=[1, 2]),
        "clip_times has 2",
    ),
    (
        "empty_head",
        dict(head="", clip_probabilities=[0.1, 0.6, 0.3]),
        "head must be a non-empty str",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [c[1:] for c in CLASSIFICATION_CASES],
    ids=[c[0] for c in CLASSIFICATION_CASES],
)
def test_classifications_validation_table(overrides, error):
    kwargs = dict(head="kinetics400", class_names=("dance", "run", "sit"))
    kwargs.update(overrides)
    if error is None:
        result = Classifications(**kwargs)
        clips = np.atleast_2d(kwargs["clip_probabilities"])  # (num_clips, 3)
        assert result.num_clips == len(clips)
        np.testing.assert_allclose(result.clip_probabilities, clips, rtol=1e-6)
        np.testing.assert_allclose(result.probabilities, clips.mean(axis=0), rtol=1e-6)
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            Classifications(**kwargs)


def test_classifications_top_k_json_repr():
    result = Classifications(
        "kinetics400",
        ("dance", "run", "sit"),
        [[0.1, 0.6, 0.3], [0.3, 0.4, 0.3]],
        clip_times=[1.0, 3.0],
        video_id="v",
    )
    assert result.num_clips == 2
    assert result.top_k(2) == [("run", 0.5), ("sit", 0.3)]
    assert result.top_k(10)[-1] == ("dance", 0.2)
    assert result.label == "run"
    data = json.loads(result.to_json())
    assert data["top_k"][0] == ["run", 0.5]
    assert Classifications.from_json(result.to_json()) == result
    text = repr(result)
    assert "kinetics400" in text and "run" in text and "0.500" in text
    with pytest.raises(ValueError, match="k must be >= 1"):
        result.top_k(0)


def test_save_video_upscales_small_frames_for_readable_labels(tmp_path):
    from cofin_sdk.io.video import probe

    frames = np.full((6, 48, 64, 3), 30, np.uint8)
    det = Detections(
        boxes=[[8, 8, 40, 40]],
        person_scores=[0.9],
        action_scores=[[0.8, 0.1]],
        class_names=("walk", "run"),
        frame_size=(64, 48),
        timestamps=[0.2],
    )
    path = det.save_video(tmp_path / "big.mp4", frames, fps=10, min_height=200)
    info = probe(path)
    assert (info.width, info.height) == (64 * 5, 48 * 5) and info.num_frames == 6
    plain = probe(det.save_video(tmp_path / "small.mp4", frames, fps=10))
    assert (plain.width, plain.height) == (64, 48)
