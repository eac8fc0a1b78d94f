"""cofin_sdk.formats.ava: one table of CSV rows, accepted or rejected the same way by every
reader of the same kind of file (evaluator, training, SDK); writer round trips."""

from __future__ import annotations

import importlib
import inspect
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cofin_sdk.formats.ava import (
    AvaRows,
    format_timestamp,
    keyframe_micros,
    read_ava_csv,
    read_exclusions,
    read_person_boxes_csv,
    timestamp_key,
    write_ava_csv,
)
from training.data.ava_annotations import (
    read_excluded_timestamps,
    read_ground_truth,
    read_person_boxes,
)

# --------------------------------------------------------------------------- readers by kind

GroundTruthReaders = dict[str, Callable[[Path], object]]
GT_READERS: GroundTruthReaders = {
    "evaluator.read_ava_csv(groundtruth)": lambda p: read_ava_csv(
        p, kind="groundtruth", allow_markers=True
    ),
    "training.read_ground_truth": read_ground_truth,
}
DETECTION_READERS: GroundTruthReaders = {
    "evaluator.read_ava_csv(detections)": lambda p: read_ava_csv(p, kind="detections"),
}
PERSON_BOX_READERS: GroundTruthReaders = {
    "ava_format.read_person_boxes_csv": read_person_boxes_csv,
    "training.read_person_boxes": read_person_boxes,
}


def _sdk_ava_csv_boxes_uses_the_shared_reader() -> bool:
    """True once ``cofin_sdk.AvaCsvBoxes`` reads through ``read_person_boxes_csv``."""
    from cofin_sdk import AvaCsvBoxes

    module = importlib.import_module(AvaCsvBoxes.__module__)
    return "read_person_boxes_csv" in inspect.getsource(module)


# The SDK's person-box reader joins the table as soon as it is wired to the shared reader
# (until then it has its own rules and is tested in test_person_detection.py).
if _sdk_ava_csv_boxes_uses_the_shared_reader():
    from cofin_sdk import AvaCsvBoxes

    PERSON_BOX_READERS["sdk.AvaCsvBoxes"] = lambda p: AvaCsvBoxes(p, "v", score_threshold=0.0)

READERS_BY_KIND = {"gt": GT_READERS, "det": DETECTION_READERS, "boxes": PERSON_BOX_READERS}

# --------------------------------------------------------------------------- the table

OK = None
GOOD = "v,0902,0.1,0.2,0.5,0.9,12,1"  # valid for every kind (1: a person id and a score)
WIDTH_8 = "expected 8 columns, got"
WIDTH_GT = "expected 2, 7 or 8 columns, got"


def same(reason: str | None) -> dict[str, str | None]:
    return {"gt": reason, "det": reason, "boxes": reason}


# (id, line, {kind: None = accepted | substring of the error reason})
ROWS = [
    # ---- accepted
    ("8-columns", "v,0902,0.1,0.2,0.5,0.9,12,1", same(OK)),
    ("3-decimal-box", "v,0902,0.077,0.151,0.283,0.811,80,1", same(OK)),
    ("6-decimal-box", "v,902,0.100000,0.200000,0.500000,0.900000,12,1", same(OK)),
    (
        "6-decimal-score",
        "v,902,0.1,0.2,0.5,0.9,12,0.123456",
        {"gt": "person id (column 8) must be an integer", "det": OK, "boxes": OK},
    ),
    (
        "17-digit-repr-score",
        "v,902,0.1,0.2,0.5,0.9,12,0.30000000000000004",
        {"gt": "person id (column 8) must be an integer", "det": OK, "boxes": OK},
    ),
    ("overshoot-1.005", "v,902,0.1,0.2,1.005,0.9,12,1", same(OK)),
    ("overshoot--0.005", "v,902,-0.005,0.2,0.5,0.9,12,1", same(OK)),
    ("degenerate-box", "v,902,0.3,0.2,0.3,0.9,12,1", same(OK)),
    ("fractional-timestamp", "v,902.500000,0.1,0.2,0.5,0.9,12,1", same(OK)),
    ("integer-valued-float-id", "v,902,0.1,0.2,0.5,0.9,12.0,1", same(OK)),
    ("spaces-around-numbers", "v, 902 ,0.1 , 0.2,0.5,0.9, 12,1 ", same(OK)),
    ("quoted-fields", '"v","902","0.1",0.2,0.5,0.9,12,"1"', same(OK)),
    (
        "7-column-gt",
        "v,902,0.1,0.2,0.5,0.9,12",
        {"gt": OK, "det": WIDTH_8 + " 7", "boxes": WIDTH_8 + " 7"},
    ),
    (
        "empty-person-id",
        "v,902,0.1,0.2,0.5,0.9,12,",
        {"gt": OK, "det": "column 8 is not a number: '' (score)",
         "boxes": "column 8 is not a number: '' (score)"},
    ),  # fmt: skip
    (
        "empty-action-person-box",
        "v,902,0.1,0.2,0.5,0.9,,1",
        {"gt": "column 7 is not a number: '' (action_id)",
         "det": "column 7 is not a number: '' (action_id)", "boxes": OK},
    ),  # fmt: skip
    ("keyframe-only-2020", "v,902", {"gt": OK, "det": WIDTH_8 + " 2", "boxes": WIDTH_8 + " 2"}),
    (
        "person-id-in-score-column",
        "v,902,0.1,0.2,0.5,0.9,12,7",
        {"gt": OK, "det": OK, "boxes": "person-box score (column 8) must be in [0, 1]"},
    ),
    (
        "score-1.5",
        "v,902,0.1,0.2,0.5,0.9,12,1.5",
        {"gt": "person id (column 8) must be an integer", "det": OK,
         "boxes": "person-box score (column 8) must be in [0, 1]"},
    ),  # fmt: skip
    # ---- rejected by every reader
    ("9-columns", "v,902,0.1,0.2,0.5,0.9,12,0.9,x", {**same(WIDTH_8 + " 9"), "gt": WIDTH_GT + " 9"}),
    ("6-columns", "v,902,0.1,0.2,0.5,1", {**same(WIDTH_8 + " 6"), "gt": WIDTH_GT + " 6"}),
    ("1-column", "v", {**same(WIDTH_8 + " 1"), "gt": WIDTH_GT + " 1"}),
    ("non-numeric-box", "v,902,0.1,abc,0.5,0.9,12,1", same("column 4 is not a number: 'abc' (y1)")),
    ("non-numeric-timestamp", "v,09x2,0.1,0.2,0.5,0.9,12,1", same("column 2 is not a")),
    ("underscore-number", "v,902,0.1,0.2,0.5,0.9,1_2,1", same("column 7 is not a")),
    ("nan-box", "v,902,0.1,nan,0.5,0.9,12,1", same("box coordinates must be finite")),
    ("inf-box", "v,902,0.1,0.2,inf,0.9,12,1", same("box coordinates must be finite")),
    ("box-1.02", "v,902,0.1,0.2,1.02,0.9,12,1", same("box coordinates must lie in [0, 1]")),
    ("box--0.02", "v,902,-0.02,0.2,0.5,0.9,12,1", same("box coordinates must lie in [0, 1]")),
    ("pixel-box", "v,902,10,20,300,400,12,1", same("box coordinates must lie in [0, 1]")),
    ("x2<x1", "v,902,0.5,0.2,0.1,0.9,12,1", same("box must have x1 <= x2 and y1 <= y2")),
    ("y2<y1", "v,902,0.1,0.9,0.5,0.2,12,1", same("box must have x1 <= x2 and y1 <= y2")),
    ("action-0", "v,902,0.1,0.2,0.5,0.9,0,1", same("action id must be an integer >= 1")),
    ("action-1.5", "v,902,0.1,0.2,0.5,0.9,1.5,1", same("action id must be an integer >= 1")),
    ("action-negative", "v,902,0.1,0.2,0.5,0.9,-3,1", same("action id must be an integer >= 1")),
    (
        "score-nan",
        "v,902,0.1,0.2,0.5,0.9,12,nan",
        {"gt": "person id (column 8) must be an integer", "det": "score must be a finite number",
         "boxes": "person-box score (column 8) must be in [0, 1]"},
    ),  # fmt: skip
    (
        "score-inf",
        "v,902,0.1,0.2,0.5,0.9,12,inf",
        {"gt": "person id (column 8) must be an integer", "det": "score must be a finite number",
         "boxes": "person-box score (column 8) must be in [0, 1]"},
    ),  # fmt: skip
    ("empty-video-id", ",902,0.1,0.2,0.5,0.9,12,1", same("empty video id")),
    ("blank-video-id", "  ,902,0.1,0.2,0.5,0.9,12,1", same("empty video id")),
    ("negative-timestamp", "v,-1,0.1,0.2,0.5,0.9,12,1", same("timestamp must be a finite number >= 0")),
    ("nan-timestamp", "v,nan,0.1,0.2,0.5,0.9,12,1", same("timestamp must be a finite number >= 0")),
    ("empty-timestamp", "v,,0.1,0.2,0.5,0.9,12,1", same("column 2 is not a number: '' (timestamp)")),
]  # fmt: skip

CASES = [
    pytest.param(line, expected[kind], reader, id=f"{row_id}-{name}")
    for row_id, line, expected in ROWS
    for kind, readers in READERS_BY_KIND.items()
    for name, reader in readers.items()
]


@pytest.mark.parametrize("placement", ["alone", "between-good-rows"])
@pytest.mark.parametrize(("line", "reason", "reader"), CASES)
def test_every_reader_accepts_or_rejects_the_row_alike(
    tmp_path: Path, line: str, reason: str | None, reader: Callable, placement: str
) -> None:
    # "alone": three copies, so the fast path reads the row; "between": a mixed file.
    text = f"{line}\n{line}\n{line}\n" if placement == "alone" else f"{GOOD}\n{line}\n{GOOD}\n"
    path = tmp_path / "rows.csv"
    path.write_text(text)
    if reason is None:
        reader(path)
        return
    with pytest.raises(ValueError) as info:
        reader(path)
    line_number = 1 if placement == "alone" else 2
    assert f"{path}:{line_number}: " in str(info.value)
    assert reason in str(info.value)


def test_the_table_covers_every_kind_and_the_sdk_slot_is_named() -> None:
    assert {kind for _, _, expected in ROWS for kind in expected} == set(READERS_BY_KIND)
    assert len({row_id for row_id, _, _ in ROWS}) == len(ROWS)
    # Extend here: "sdk.AvaCsvBoxes" is compared once it calls read_person_boxes_csv.
    assert set(PERSON_BOX_READERS) <= {
        "ava_format.read_person_boxes_csv",
        "training.read_person_boxes",
        "sdk.AvaCsvBoxes",
    }


# --------------------------------------------------------------------------- fast == reference

GOOD_ROWS = {
    kind: [line for _, line, expected in ROWS if expected[key] is None and line.count(",") > 1]
    for kind, key in (("groundtruth", "gt"), ("detections", "det"))
}


def _assert_same_rows(a: AvaRows, b: AvaRows) -> None:
    assert a.video_names.tolist() == b.video_names.tolist()
    for name in ("video_codes", "timestamps", "boxes", "labels", "scores", "markers", "person_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("kind", ["groundtruth", "detections"])
def test_fast_path_equals_the_line_by_line_reference(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(0)
    good = GOOD_ROWS[kind]
    lines = [good[i].replace("v,", f"vid{i % 3},", 1) for i in rng.integers(0, len(good), 500)]
    if kind == "groundtruth":  # 2020 form: keyframe-only rows between the boxes
        lines = [line if i % 7 else f"vid{i % 5},{900 + i}" for i, line in enumerate(lines)]
    path = tmp_path / "rows.csv"
    path.write_text("\ufeff" + "\r\n".join(lines) + "\r\n\n   \n")  # BOM, CRLF, blank lines
    options = {"kind": kind, "allow_markers": kind == "groundtruth"}
    fast, reference = (
        read_ava_csv(path, **options),
        read_ava_csv(path, exact_floats=True, **options),
    )
    _assert_same_rows(fast, reference)
    assert fast.video_names[0] != "\ufeffvid0"
    assert len(fast) == len(lines)
    assert int(fast.markers.sum()) == (sum(1 for line in lines if line.count(",") == 1))
    assert not fast.markers[: len(fast) - int(fast.markers.sum())].any()  # markers come last


def test_error_in_a_large_file_names_its_line(tmp_path: Path) -> None:
    lines = [f"v,{902 + i // 60},0.1,0.2,0.5,0.9,{1 + i % 60},0.5" for i in range(30_000)]
    lines[23_456] = lines[23_456].replace(",0.5,0.9,", ",0.5,1.9,")
    path = tmp_path / "det.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"det\.csv:23457: box coordinates must lie in"):
        read_ava_csv(path)


def test_evaluator_keeps_overshoot_training_and_boxes_reader_clip(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("v,902,-0.004,0.2,1.005,0.9,12,1\n")
    assert read_ava_csv(path).boxes.tolist() == [[-0.004, 0.2, 1.005, 0.9]]  # as official
    (person,) = read_ground_truth(path)[("v", 902)]
    assert person.box == (0.0, 0.2, 1.0, 0.9) and person.action_ids == {12}
    boxes, _ = read_person_boxes_csv(path)[("v", 902)]
    np.testing.assert_array_equal(boxes, np.array([[0.0, 0.2, 1.0, 0.9]], np.float32))


# --------------------------------------------------------------------------- person boxes


def test_person_boxes_dedup_highest_score_threshold_and_video(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text(
        "a,902,0.1,0.2,0.5,0.9,,0.85\n"
        "a,902,0.1,0.2,0.5,0.9,3,0.95\n"  # same box, another action: kept once, best score
        "a,902,0.6,0.1,0.9,0.8,,0.3\n"
        "a,902,0.4,0.4,0.4,0.6,,0.99\n"  # zero area: dropped
        "a,0903,0.2,0.2,0.3,0.3,,0.1\n"  # below threshold: keyframe kept, empty
        "b,902.5,0.2,0.2,0.3,0.3,,0.9\n"
    )
    found = read_person_boxes_csv(path, min_score=0.5)
    assert list(found) == [("a", 902), ("a", 903), ("b", 902.5)]
    boxes, scores = found[("a", 902)]
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    np.testing.assert_allclose(boxes, [[0.1, 0.2, 0.5, 0.9]])
    np.testing.assert_allclose(scores, [0.95])
    assert found[("a", 903)][0].shape == (0, 4) and found[("a", 903)][1].shape == (0,)
    assert list(read_person_boxes_csv(path, video_id="b")) == [("b", 902.5)]
    assert read_person_boxes_csv(path, video_id="zz") == {}
    assert len(read_person_boxes_csv(path)[("a", 902)][1]) == 2
    assert list(read_person_boxes(path, min_score=0.5)) == [("a", 902), ("b", 902.5)]


def test_exclusions_readers_agree(tmp_path: Path) -> None:
    path = tmp_path / "ex.csv"
    path.write_text("v,0905\nv,906.500000\n")
    assert read_exclusions(path) == [("v", 905.0), ("v", 906.5)]
    assert read_excluded_timestamps(path) == {("v", 905), ("v", 906.5)}
    for text, reason in [("v,-1\n", "finite number >= 0"), (",3\n", "empty video id")]:
        path.write_text(text)
        for reader in (read_exclusions, read_excluded_timestamps):
            with pytest.raises(ValueError, match=f"ex.csv:1: .*{reason}"):
                reader(path)


# --------------------------------------------------------------------------- writer & timestamps


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, class_ids = 40, [1, 5, 80]
    boxes = np.sort(rng.random((n, 2, 2)), axis=1).transpose(0, 2, 1).reshape(n, 4)[:, [0, 2, 1, 3]]
    boxes[0] = [-0.004, 0.0, 1.006, 1.0]  # tolerated overshoot: written clipped
    times = rng.integers(902, 905, n) + np.where(rng.random(n) < 0.5, 0.0, 0.25)
    scores = rng.random((n, len(class_ids)))
    videos = [f"vid{i % 4}" for i in range(n)]
    path = tmp_path / "det.csv"
    assert write_ava_csv(path, videos, times, boxes, class_ids, scores) == n * len(class_ids)
    rows = read_ava_csv(path)
    assert rows.video_names[rows.video_codes].tolist() == np.repeat(videos, 3).tolist()
    np.testing.assert_array_equal(rows.timestamps, np.repeat(times, 3))
    np.testing.assert_allclose(rows.boxes, np.repeat(np.clip(boxes, 0, 1), 3, axis=0), atol=5e-7)
    assert rows.labels.tolist() == class_ids * n
    np.testing.assert_allclose(rows.scores, scores.reshape(-1), atol=5e-7)
    assert path.read_text().splitlines()[0].startswith("vid0,90")
    assert ",0.000000,0.000000,1.000000,1.000000,1," in path.read_text().splitlines()[0]


def test_writer_min_score_buffer_and_errors() -> None:
    buffer = io.StringIO()
    count = write_ava_csv(
        buffer, "v", [902.5], [[0.1, 0.2, 0.3, 0.4]], [3, 4], [[0.2, 0.7]], min_score=0.5
    )
    assert count == 1
    assert buffer.getvalue() == "v,902.500000,0.100000,0.200000,0.300000,0.400000,4,0.700000\n"
    assert write_ava_csv(io.StringIO(), "v", [], np.zeros((0, 4)), [1], np.zeros((0, 1))) == 0
    box = [[0.1, 0.2, 0.3, 0.4]]
    for args, match in [
        (("v,x", [902], box, [1], [[0.5]]), "video id must be non-empty"),
        (("v", [-1], box, [1], [[0.5]]), "timestamp must be a finite number"),
        (("v", [902], [[0.1, 0.2, 1.3, 0.4]], [1], [[0.5]]), r"coordinates must lie in \[0, 1\]"),
        (("v", [902], box, [0], [[0.5]]), "class ids must be integers >= 1"),
        (("v", [902], box, [1], [[np.nan]]), "scores must be finite"),
        (("v", [902], box, [1, 2], [[0.5]]), r"scores must have shape \(1, 2\)"),
    ]:
        with pytest.raises(ValueError, match=match):
            write_ava_csv(io.StringIO(), *args)


@pytest.mark.parametrize(
    ("seconds", "text", "key"),
    [
        (902, "902", 902),
        (902.0, "902", 902),
        (0, "0", 0),
        (902.5, "902.500000", 902.5),
        (903.123456, "903.123456", 903.123456),
        (1798.0000004, "1798", 1798),  # rounded to microseconds first
        (np.float32(902.5), "902.500000", 902.5),
    ],
)
def test_format_timestamp_round_trips(seconds: float, text: str, key: int | float) -> None:
    assert format_timestamp(seconds) == text
    assert timestamp_key(seconds) == key and type(timestamp_key(seconds)) is type(key)
    assert timestamp_key(float(text)) == key
    assert keyframe_micros([float(text)]).tolist() == keyframe_micros([seconds]).tolist()


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_timestamp_rejects(bad: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        format_timestamp(bad)


def test_module_imports_neither_torch_nor_pandas() -> None:
    code = (
        "import sys, cofin_sdk.formats.ava as f; "
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
