"""Tests for cofin_sdk.person_detection: contracts, look-ups, CSV errors, NMS, HOG, torchvision."""

from __future__ import annotations

import re
import warnings

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from cofin_sdk.person_detection import (
    AVA_TIME_OFFSET,
    AvaCsvBoxes,
    CallablePersonDetector,
    GivenBoxes,
    HogPersonDetector,
    PersonBoxes,
    PersonDetector,
    TorchvisionPersonDetector,
    get_person_detector,
    nms,
)

FRAME = np.zeros((100, 200, 3), np.uint8)  # H=100, W=200


def assert_contract(result, frame=FRAME):
    assert isinstance(result, PersonBoxes)
    boxes, scores = result
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert scores.dtype == np.float32 and scores.shape == (len(boxes),)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (np.diff(scores) <= 0).all(), "scores must be sorted best first"
    height, width = frame.shape[:2]
    assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= width).all()
    assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= height).all()
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()


# ------------------------------------------------------------------ GivenBoxes
def test_given_boxes_per_timestamp_pixels():
    given = GivenBoxes(
        {1.0: [[10, 10, 50, 90]], 2.0: [[0, 0, 20, 20], [30, 30, 60, 60]]},
        scores={1.0: [0.5], 2.0: [0.4, 0.9]},
    )
    assert isinstance(given, PersonDetector) and given.name == "given"
    assert given.timestamps == [1.0, 2.0]
    result = given(FRAME, timestamp=2.0)
    assert_contract(result)
    assert result.boxes.tolist() == [[30, 30, 60, 60], [0, 0, 20, 20]]  # sorted by score
    assert result.scores.tolist() == pytest.approx([0.9, 0.4])
    assert given(FRAME, timestamp=1.0 + 1e-4).boxes.tolist() == [[10, 10, 50, 90]]


def test_given_boxes_normalised_and_single_array():
    given = GivenBoxes([[0.1, 0.2, 0.5, 1.0]], normalized=True)
    result = given(FRAME)
    assert result.boxes.tolist() == [[20.0, 20.0, 100.0, 100.0]]
    assert result.scores.tolist() == [1.0]
    assert given(FRAME, timestamp=123.0).boxes.shape == (1, 4)  # same boxes at every time


def test_given_boxes_missing_timestamps():
    given = GivenBoxes({1.0: [[10, 10, 50, 90]]})
    with pytest.raises(ValueError, match=r"no boxes given for t=3.0 s"):
        given(FRAME, timestamp=3.0)
    with pytest.raises(ValueError, match="needs the keyframe timestamp"):
        given(FRAME)
    lenient = GivenBoxes({1.0: [[10, 10, 50, 90]]}, missing="empty")
    assert_contract(lenient(FRAME, timestamp=3.0))
    assert len(lenient(FRAME, timestamp=3.0).boxes) == 0


def test_given_boxes_outside_frame_is_an_error():
    given = GivenBoxes([[10, 10, 250, 90]])
    with pytest.raises(ValueError, match=r"must lie in the 200x100 frame.*normalized=True"):
        given(FRAME)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(boxes=[[1, 2, 3]]), "shape [N, 4]"),
        (dict(boxes=[[0, 0, np.nan, 1]]), "NaN"),
        (dict(boxes=[[5, 0, 4, 1]]), "x1 <= x2"),
        (dict(boxes=[[np.inf, 0, 4, 1]]), "must be finite"),
        (dict(boxes=[[0, 0, 1.5, 1]], normalized=True), "[0, 1] (normalised)"),
        (dict(boxes=[[0, 0, 4, 1]], scores=[0.5, 0.5]), "scores must be 1 values"),
        (dict(boxes=[[0, 0, 4, 1]], scores=[1.5]), "in [0, 1]"),
        (dict(boxes={1.0: [[0, 0, 4, 1]]}, scores=[0.5]), "scores must be a mapping"),
        (dict(boxes=[[0, 0, 4, 1]], missing="ignore"), "missing must be"),
    ],
)
def test_given_boxes_validation(kwargs, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        GivenBoxes(**kwargs)


def test_detectors_reject_non_uint8_frames():
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"):
        GivenBoxes([[0, 0, 4, 4]])(np.zeros((10, 10), np.uint8))


# ------------------------------------------------------------------ AvaCsvBoxes
CSV = """\
vidA,902,0.100,0.200,0.500,0.900,,0.950
vidA,902,0.600,0.100,0.900,0.800,12,0.850
vidA,902,0.600,0.100,0.900,0.800,17,0.850
vidA,902,0.000,0.000,0.200,0.200,,0.300
vidA,903,0.250,0.250,0.750,0.750,,0.990

vidB,902,0.100,0.100,0.200,0.200,,0.990
"""


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "ava_val_predicted_boxes.csv"
    path.write_text(CSV)
    return path


def test_ava_csv_lookup_threshold_dedup(csv_path):
    boxes = AvaCsvBoxes(csv_path, "vidA", time_offset=AVA_TIME_OFFSET)
    assert boxes.name == "ava_csv" and isinstance(boxes, PersonDetector)
    assert boxes.timestamps == [2.0, 3.0]
    result = boxes(FRAME, timestamp=2.0)
    assert_contract(result)
    # repeated box (one row per action) kept once; the 0.3 box is below the 0.8 threshold
    np.testing.assert_allclose(result.boxes, [[20, 20, 100, 90], [120, 10, 180, 80]], atol=1e-4)
    np.testing.assert_allclose(result.scores, [0.95, 0.85])
    assert len(boxes(FRAME, timestamp=2.4).boxes) == 2  # nearest integer second
    assert len(boxes(FRAME, timestamp=2.6).boxes) == 1  # -> 903
    assert len(boxes(FRAME, timestamp=10.0).boxes) == 0  # no row: no people
    assert (
        len(AvaCsvBoxes(csv_path, "vidA", score_threshold=0.2, time_offset=900)(FRAME, 2.0).boxes)
        == 3
    )


def test_ava_csv_video_id_selection(csv_path, tmp_path):
    unbound = AvaCsvBoxes(csv_path)
    with pytest.raises(ValueError, match="not bound to a video"):
        unbound(FRAME, timestamp=2.0)
    assert unbound.for_video("vidB").video_id == "vidB" and unbound.video_id is None
    with pytest.raises(ValueError, match=r"no rows for video id 'vidC'; it holds 2 .*vidA, vidB"):
        AvaCsvBoxes(csv_path, "vidC")
    with pytest.raises(ValueError, match=r"no rows for video id 'other'"):
        unbound.for_video("other")
    with pytest.raises(ValueError, match="the video has no file name"):
        unbound.for_video("")
    # A file with one video is still applied only to that video, never to another one.
    single = tmp_path / "one.csv"
    single.write_text("only,5,0.1,0.1,0.3,0.3,,0.9\n")
    with pytest.raises(ValueError, match=r"no rows for video id 'movie'; it holds 1 .*: only"):
        AvaCsvBoxes(single).for_video("movie")
    assert AvaCsvBoxes(single, "only").for_video("movie").video_id == "only"  # explicit wins
    with pytest.raises(FileNotFoundError):
        AvaCsvBoxes(tmp_path / "missing.csv")


def test_ava_csv_wrong_time_offset_warns(csv_path, caplog):
    boxes = AvaCsvBoxes(csv_path, "vidA")  # forgot time_offset=900
    with caplog.at_level("WARNING"):
        assert len(boxes(FRAME, timestamp=2.0).boxes) == 0
    assert "time_offset" in caplog.text


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("vidA,902,0.1,0.2,0.5,0.9,,0.9,extra", "expected 8 columns"),
        ("vidA,902,0.1,0.2,0.5,0.9", "expected 8 columns"),
        ("vidA,abc,0.1,0.2,0.5,0.9,,0.9", "column 2 is not a number"),
        ("vidA,902,0.1,0.2,0.5,0.9,,high", "column 8 is not a number"),
        ("vidA,902,0.1,nan,0.5,0.9,,0.9", "must be finite"),
        ("vidA,902,0.5,0.2,0.1,0.9,,0.9", "x1 <= x2"),
        ("vidA,902,0.1,0.2,1.5,0.9,,0.9", "must lie in [0, 1]"),
        ("vidA,902,0.1,0.2,0.5,0.9,,7", "ground-truth file has person ids"),
    ],
)
def test_ava_csv_malformed_rows_name_file_and_line(tmp_path, line, error):
    path = tmp_path / "bad.csv"
    path.write_text("vidA,902,0.1,0.2,0.5,0.9,,0.9\n" + line + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2")) as info:
        AvaCsvBoxes(path, "vidA")
    assert error in str(info.value)


# ------------------------------------------------------------------ NMS (crafted inputs)
def test_nms_on_crafted_boxes():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32
    )
    scores = np.array([0.6, 0.9, 0.5, 0.4], np.float32)
    # box 1 wins; box 0 (IoU 0.68 with 1) and box 3 (IoU ~0.66 with 1) go; disjoint box 2 stays
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_nms_keeps_what_torchvision_keeps():
    torch = pytest.importorskip("torch")
    from torchvision.ops import nms as tv_nms

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 40))
        xy, wh = rng.uniform(0, 300, (n, 2)), rng.uniform(5, 150, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        threshold = float(rng.uniform(0.2, 0.8))
        expected = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold)
        assert nms(boxes, scores, threshold).tolist() == expected.tolist()


# ------------------------------------------------------------------ HOG
def draw_stick_figure(image: np.ndarray, x: int, y: int, height: int) -> None:
    """A dark upright stick figure ``height`` px tall with its top-left near (x, y)."""
    color, s = (40, 40, 40), height / 100

    def px(u: float, v: float) -> tuple[int, int]:
        return int(round(x + u * s)), int(round(y + v * s))

    cv2.circle(image, px(10, 9), max(1, int(9 * s)), color, -1)  # head
    cv2.rectangle(image, px(0, 19), px(20, 62), color, -1)  # torso
    for start, end, width in [
        ((2, 22), (-6, 59), 5),
        ((18, 22), (26, 59), 5),  # arms
        ((5, 61), (2, 101), 7),
        ((15, 61), (18, 101), 7),
    ]:  # legs
        cv2.line(image, px(*start), px(*end), color, max(1, int(width * s)))


def test_hog_contract_on_blank_frame_finds_nobody():
    detector = HogPersonDetector()
    assert detector.name == "opencv_hog" and isinstance(detector, PersonDetector)
    frame = np.full((240, 320, 3), 200, np.uint8)
    result = detector(frame)
    assert_contract(result, frame)
    assert len(result.boxes) == 0


@pytest.mark.parametrize(("frame_hw", "figure_height"), [((480, 640), 200), ((240, 320), 60)])
def test_hog_finds_a_drawn_stick_figure_once(frame_hw, figure_height):
    """A synthetic silhouette, not a photo: shows the pipeline (resize, margins, NMS) works."""
    frame = np.full((*frame_hw, 3), 200, np.uint8)
    x, y = frame_hw[1] // 3, frame_hw[0] // 4
    draw_stick_figure(frame, x, y, figure_height)
    result = HogPersonDetector()(frame)
    assert_contract(result, frame)
    assert len(result.boxes) == 1, "NMS should leave one box for one figure"
    x1, y1, x2, y2 = result.boxes[0]
    assert (
        x1 <= x and y1 <= y + 5 and x2 >= x + 0.2 * figure_height and y2 >= y + 0.95 * figure_height
    )
    assert y2 - y1 < 2.5 * figure_height
    assert result.scores[0] > 0.7


def test_hog_upscaling_is_what_finds_small_people():
    frame = np.full((240, 320, 3), 200, np.uint8)
    draw_stick_figure(frame, 100, 60, 60)  # shorter than the ~96 px HOG needs
    assert len(HogPersonDetector(min_frame_height=240)(frame).boxes) == 0
    assert len(HogPersonDetector(min_frame_height=480)(frame).boxes) == 1


def test_hog_threshold_and_arguments():
    frame = np.full((480, 640, 3), 200, np.uint8)
    draw_stick_figure(frame, 200, 100, 200)
    assert len(HogPersonDetector(score_threshold=0.9999)(frame).boxes) == 0
    with pytest.raises(ValueError, match="min_frame_height"):
        HogPersonDetector(min_frame_height=800, max_frame_height=720)


# ------------------------------------------------------------------ torchvision
@pytest.fixture(scope="module")
def random_frcnn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return TorchvisionPersonDetector(
            None, score_threshold=0.0, architecture="fasterrcnn_mobilenet_v3_large_320_fpn"
        )


def test_torchvision_random_weights_warns():
    with pytest.warns(UserWarning, match="RANDOM weights"):
        detector = TorchvisionPersonDetector(
            None, architecture="fasterrcnn_mobilenet_v3_large_320_fpn"
        )
    assert detector.name == "torchvision_frcnn" and isinstance(detector, PersonDetector)


ARCH = "fasterrcnn_mobilenet_v3_large_320_fpn"  # the smallest torchvision Faster R-CNN


def crafted_state_dict(winner: int) -> dict[str, torch.Tensor]:
    """Random Faster R-CNN weights whose classifier makes COCO label ``winner`` win.

    A randomly initialised MobileNetV3 backbone's features vanish (~1e-8), so every
    proposal would get identical scores; scaling the FPN's input convolutions by 1e7
    brings the image back into the features, so scores differ between boxes.
    """
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        state = TorchvisionPersonDetector(None, architecture=ARCH).model.state_dict()
    for name in state:
        if name.startswith("backbone.fpn.inner_blocks.") and name.endswith(".weight"):
            state[name] = state[name] * 1e7
    state["roi_heads.box_predictor.cls_score.bias"][winner] += 6.0  # ~0.8 after the softmax
    return state


def save_state_dict(state: dict[str, torch.Tensor], path):
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({name: tensor.contiguous() for name, tensor in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def person_weights(tmp_path_factory):
    """``(state_dict, {suffix: path})`` of weights in which "person" wins every box."""
    state = crafted_state_dict(winner=1)
    folder = tmp_path_factory.mktemp("frcnn")
    return state, {
        suffix: save_state_dict(state, folder / f"person{suffix}")
        for suffix in (".pth", ".safetensors")
    }


def smooth_frame(height: int, width: int) -> np.ndarray:
    """Gradient with two blurred blocks: smooth, so a resized copy shows the same picture."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (height + width)], axis=-1
    ).astype(np.uint8)
    frame[height // 6 : height * 5 // 6, width // 7 : width * 2 // 7] = (220, 30, 30)
    frame[height // 12 : height * 2 // 3, width * 3 // 5 : width * 9 // 10] = (30, 30, 220)
    return cv2.GaussianBlur(frame, (0, 0), 3)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_weights_file_gives_person_boxes_in_frame_pixels(person_weights, suffix):
    state, paths = person_weights
    detector = TorchvisionPersonDetector(paths[suffix], score_threshold=0.0, architecture=ARCH)
    for name, tensor in detector.model.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    frame = smooth_frame(60, 200)  # non-square: H=60, W=200
    result = detector(frame)
    assert_contract(result, frame)
    assert len(result.boxes) >= 10 and result.scores.min() > 0.5
    assert len(np.unique(result.scores)) > len(result.scores) // 2, "scores should differ"
    # The same picture at twice the size gives the same boxes in pixels of THAT frame.
    big = cv2.resize(frame, (400, 120), interpolation=cv2.INTER_LINEAR)
    doubled = detector(big)
    assert_contract(doubled, big)
    iou = box_iou(torch.from_numpy(result.boxes), torch.from_numpy(doubled.boxes / 2))
    assert iou.max(dim=1).values.min() > 0.95
    assert result.boxes[:, 2].max() > 150 and doubled.boxes[:, 2].max() > 300  # not squeezed
    # The threshold keeps exactly the boxes scoring at least that much.
    threshold = float(np.median(result.scores))
    detector.score_threshold = threshold
    kept = detector(frame)
    assert_contract(kept, frame)
    assert 0 < len(kept.boxes) < len(result.boxes) and kept.scores.min() >= threshold
    np.testing.assert_array_equal(kept.boxes, result.boxes[result.scores >= threshold])


def test_torchvision_drops_boxes_of_other_classes(tmp_path):
    path = save_state_dict(crafted_state_dict(winner=2), tmp_path / "bicycle.safetensors")
    detector = TorchvisionPersonDetector(path, score_threshold=0.0, architecture=ARCH)
    frame = smooth_frame(60, 200)
    with torch.inference_mode():
        raw = detector.model([torch.from_numpy(frame).permute(2, 0, 1).float() / 255])[0]
    assert len(raw["labels"]) >= 10 and (raw["labels"] == 2).all(), "bicycle should win"
    result = detector(frame)
    assert_contract(result, frame)
    assert len(result.boxes) == 0


BAD_WEIGHTS = {
    "text.pth": lambda path, good: path.write_text("not a checkpoint\n"),
    "truncated.pth": lambda path, good: path.write_bytes(good[".pth"].read_bytes()[:4096]),
    "list.pth": lambda path, good: torch.save([torch.zeros(2)], path),
    "text.safetensors": lambda path, good: path.write_text("not a checkpoint\n"),
    "truncated.safetensors": lambda path, good: path.write_bytes(
        good[".safetensors"].read_bytes()[:100_000]
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_WEIGHTS))
def test_torchvision_bad_weights_file_names_the_file(tmp_path, person_weights, name):
    path = tmp_path / name
    BAD_WEIGHTS[name](path, person_weights[1])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        TorchvisionPersonDetector(path, architecture=ARCH)


def test_torchvision_keeps_only_person_label_above_threshold():
    """Runs a real (random) Faster R-CNN whose classifier bias favours COCO label 1 and whose
    own score floor is removed, so it emits boxes of several labels; the adapter must keep
    exactly the label-1 boxes scoring >= its threshold."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        detector = TorchvisionPersonDetector(
            None, architecture="fasterrcnn_mobilenet_v3_large_320_fpn"
        )
    roi_heads = detector.model.roi_heads
    with torch.no_grad():
        roi_heads.box_predictor.cls_score.bias[1] += 3.0  # person logit up by 3
    roi_heads.score_thresh, roi_heads.detections_per_img = 0.0, 300
    frame = np.random.default_rng(1).integers(0, 256, (72, 96, 3), dtype=np.uint8)
    with torch.inference_mode():
        raw = detector.model([torch.from_numpy(frame).permute(2, 0, 1).float() / 255])[0]
    is_person = raw["labels"] == 1
    assert is_person.any() and (~is_person).any(), "the crafted model should emit mixed labels"
    person_min = float(raw["scores"][is_person].min())
    detector.score_threshold = person_min - 1e-6
    result = detector(frame)
    assert_contract(result, frame)
    assert len(result.boxes) == int(is_person.sum())
    np.testing.assert_allclose(
        np.sort(result.scores), np.sort(raw["scores"][is_person].numpy()), rtol=1e-6
    )
    detector.score_threshold = float(raw["scores"][is_person].max()) + 1e-6
    assert len(detector(frame).boxes) == 0


def test_torchvision_default_weights_never_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        TorchvisionPersonDetector("DEFAULT", architecture="fasterrcnn_mobilenet_v3_large_320_fpn")
    message = str(info.value)
    assert (
        str(tmp_path / "hub" / "checkpoints" / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth")
        in message
    )
    assert "https://download.pytorch.org/models/" in message
    assert not list(tmp_path.rglob("*.pth")), "nothing may be downloaded"


def test_torchvision_loads_default_from_cache_and_from_path(tmp_path, monkeypatch, random_frcnn):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(
        random_frcnn.model.state_dict(),
        cache / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
    )
    loaded = TorchvisionPersonDetector(
        "DEFAULT", architecture="fasterrcnn_mobilenet_v3_large_320_fpn"
    )
    reference = random_frcnn.model.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, reference[name]), name
    local = TorchvisionPersonDetector(
        cache / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
        architecture="fasterrcnn_mobilenet_v3_large_320_fpn",
    )
    assert "907ea3f9" in repr(local)


@pytest.mark.parametrize(
    ("kwargs", "exception", "error"),
    [
        (dict(weights=None, architecture="yolo"), ValueError, "unknown architecture"),
        (dict(weights="/nonexistent/frcnn.pth"), FileNotFoundError, "weights not found"),
    ],
)
def test_torchvision_errors(kwargs, exception, error):
    with pytest.raises(exception, match=error):
        TorchvisionPersonDetector(**kwargs)


# ------------------------------------------------------------------ factory and callables
def test_get_person_detector(csv_path):
    assert isinstance(get_person_detector(), HogPersonDetector)
    assert isinstance(get_person_detector(None), HogPersonDetector)
    assert get_person_detector("hog", score_threshold=0.9).score_threshold == 0.9
    csv_detector = get_person_detector(csv_path, video_id="vidA", time_offset=900)
    assert isinstance(csv_detector, AvaCsvBoxes) and csv_detector.video_id == "vidA"
    assert isinstance(get_person_detector(str(csv_path), video_id="vidB"), AvaCsvBoxes)
    given = GivenBoxes([[0, 0, 5, 5]])
    assert get_person_detector(given) is given
    with pytest.raises(ValueError, match="unknown person detector 'yolo'"):
        get_person_detector("yolo")
    with pytest.raises(TypeError, match="must be a name, CSV path or callable"):
        get_person_detector(42)
    with pytest.raises(TypeError, match="keyword arguments"):
        get_person_detector(given, score_threshold=0.5)


def test_get_person_detector_torchvision_is_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        get_person_detector("torchvision")


def test_plain_callable_is_wrapped_and_validated():
    def my_detector(frame):
        return [[-5, 10, 50, 500], [0, 0, 10, 10]], [0.2, 0.8]

    detector = get_person_detector(my_detector)
    assert isinstance(detector, CallablePersonDetector) and detector.name == "my_detector"
    result = detector(FRAME, timestamp=1.0)
    assert_contract(result)
    assert result.boxes.tolist() == [[0, 0, 10, 10], [0, 10, 50, 100]]  # sorted, clipped
    assert CallablePersonDetector(lambda f: ([], [])).name == "custom"
    assert len(CallablePersonDetector(lambda f: ([], []))(FRAME).boxes) == 0


@pytest.mark.parametrize(
    ("output", "error"),
    [
        (None, "must return (boxes, scores)"),
        (([[0, 0, 1, 1]], [0.5, 0.5]), "boxes [N, 4] and scores [N]"),
        (([[0, 0, 1, 1]], [1.5]), "must be in [0, 1]"),
        (([[0, 0, np.nan, 1]], [0.5]), "must be finite"),
    ],
)
def test_callable_bad_outputs(output, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        CallablePersonDetector(lambda frame: output)(FRAME)


def test_hog_remembers_frames_it_has_seen():
    from cofin_sdk.person_detection import HogPersonDetector

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(3)]
    detector, uncached = HogPersonDetector(cache_size=2), HogPersonDetector(cache_size=0)
    first = detector(frames[0])
    first.boxes[:] = -1  # the caller's copy: the cache keeps its own
    again = detector(frames[0].copy())  # the same pixels, another array
    assert np.array_equal(again.boxes, uncached(frames[0]).boxes)
    assert len(detector._cache) == 1 and not uncached._cache
    for frame in frames[1:]:
        detector(frame)
    assert len(detector._cache) == 2  # least recently used (frames[0]) evicted
    with pytest.raises(ValueError, match="cache_size must be >= 0"):
        HogPersonDetector(cache_size=-1)
