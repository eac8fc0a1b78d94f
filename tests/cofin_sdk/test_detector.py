"""Detector: exact parity with the model on shared preprocessing, box mapping, inputs, errors."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from _fixtures import moving_block_frames, tiny_model

from cofin_sdk.backends import Backend, TorchBackend
from cofin_sdk.detector import Detector
from cofin_sdk.io.video import iter_frames, read_clip, write_video
from cofin_sdk.models import from_pretrained
from cofin_sdk.preprocessing import Preprocessing, preprocess_clip
from cofin_sdk.results import Classifications, Detections

NUM_FRAMES, STRIDE, SIZE, FPS = 4, 2, 64, 10
ACTIONS = ["stand", "sit", "walk"]
LABELS = ["dance", "run", "jump", "swim", "cook"]


def _frames(num: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A moving bright block on noise: frames differ so the clip sampler matters."""
    return moving_block_frames(num, height, width, seed)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(
        num_frames=NUM_FRAMES,
        image_size=SIZE,
        heads={
            "ava": {
                "task": "detection",
                "num_classes": 3,
                "class_names": ACTIONS,
                "class_ids": [11, 12, 14],
            },
            "k400": {"task": "classification", "num_classes": 5, "class_names": LABELS},
        },
    )
    model.preprocessing = {"frame_stride": STRIDE}
    return model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny"))


@pytest.fixture(scope="module")
def model(model_dir: Path) -> torch.nn.Module:
    return from_pretrained(model_dir).eval()


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> Detector:
    return Detector.from_pretrained(model_dir, progress=False, batch_size=2)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s, 97x61 (odd, landscape: padded at the bottom), yuv444p keeps the odd size."""
    path = tmp_path_factory.mktemp("video") / "odd_clip.mp4"
    write_video(path, _frames(30, 61, 97), fps=FPS, pix_fmt="yuv444p")
    return path


BOXES = {
    0.0: [[5.0, 3.0, 40.5, 58.0]],
    1.0: [[10.0, 2.0, 50.0, 60.0], [60.25, 10.0, 96.0, 61.0]],
    2.9: [[0.0, 0.0, 97.0, 61.0]],
}


def _reference(model: torch.nn.Module, source: Path, time: float, boxes: np.ndarray) -> np.ndarray:
    """Sigmoid scores from calling the model by hand with the shared functions."""
    frames = read_clip(source, time, NUM_FRAMES, STRIDE)
    prep = Preprocessing(image_size=SIZE, num_frames=NUM_FRAMES, frame_stride=STRIDE)
    clip, letterbox = preprocess_clip(frames, prep)
    rois = letterbox.pixels_to_input(np.asarray(boxes, np.float32))
    rois = torch.from_numpy(np.column_stack([np.zeros(len(rois)), rois]).astype(np.float32))
    with torch.no_grad():
        return torch.sigmoid(model(clip[None], head="ava", boxes=rois)).numpy()


# --------------------------------------------------------------------------- parity
def test_detect_scores_equal_model_on_shared_preprocessing(detector, model, video_path):
    result = detector.detect(video_path, boxes=BOXES)
    assert result.detector == "given" and result.video_id == "odd_clip"
    assert result.frame_size == (97, 61)
    assert result.class_names == tuple(ACTIONS) and result.class_ids == (11, 12, 14)
    assert sorted(set(result.timestamps.tolist())) == sorted(BOXES)  # keyframes = box times
    for time, boxes in BOXES.items():
        rows = result[result.timestamps == time]
        np.testing.assert_array_equal(rows.boxes, np.asarray(boxes, np.float32))
        np.testing.assert_allclose(
            rows.action_scores, _reference(model, video_path, time, boxes), atol=1e-6, rtol=0
        )
        np.testing.assert_array_equal(rows.person_scores, 1.0)


def test_batch_size_does_not_change_scores(model_dir, video_path):
    one = Detector.from_pretrained(model_dir, progress=False, batch_size=1)
    many = Detector.from_pretrained(model_dir, progress=False, batch_size=8)
    a, b = one.detect(video_path, boxes=BOXES), many.detect(video_path, boxes=BOXES)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_allclose(a.action_scores, b.action_scores, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- box mapping
class _SpyBackend:
    """Records what the Detector hands to the backend (the numpy boundary)."""

    name = "spy"

    def __init__(self, inner: TorchBackend) -> None:
        self.inner, self.heads, self.preprocessing = inner, inner.heads, inner.preprocessing
        self.frames: list[np.ndarray] = []
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def features(self, frames: np.ndarray) -> np.ndarray:
        self.frames.append(frames)
        return self.inner.features(frames)

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        if boxes is not None:
            self.calls.append((self.frames[-1], boxes))
        return self.inner.head(name, features, boxes)


@pytest.mark.parametrize("height, width", [(61, 97), (97, 61), (64, 64), (33, 200)])
@pytest.mark.parametrize("normalised", [False, True])
def test_boxes_map_to_input_and_back(model, height, width, normalised):
    frames = _frames(12, height, width)
    pixel_boxes = np.array(
        [[1.0, 2.0, width - 3.5, height - 1.0], [width / 3, height / 5, width / 2, height / 2]],
        np.float32,
    )
    given = (
        pixel_boxes / np.array([width, height, width, height], np.float32)
        if normalised
        else pixel_boxes
    )
    spy = _SpyBackend(TorchBackend(model))
    result = Detector(spy, progress=False).detect(
        frames, fps=FPS, timestamps=[0.5], boxes=given, normalized=normalised
    )
    # Output boxes are in original-frame pixels whatever the input convention.
    np.testing.assert_allclose(result.boxes, pixel_boxes, atol=1e-4)
    # Input boxes: longer side scaled to SIZE, padding bottom/right (offset 0).
    ((video, rois),) = spy.calls
    assert video.shape == (1, NUM_FRAMES, SIZE, SIZE, 3) and video.dtype == np.uint8
    resized_w = round(width * SIZE / max(width, height))
    resized_h = round(height * SIZE / max(width, height))
    scale = np.array([resized_w / width, resized_h / height] * 2)
    assert rois.shape == (1, 2, 4)  # batch-first [B, N, 4] input pixels
    np.testing.assert_allclose(rois[0], pixel_boxes * scale, atol=1e-4)
    assert rois[0, :, 2].max() <= resized_w + 1e-4 and rois[0, :, 3].max() <= resized_h + 1e-4
    # Padding is pixel black (uint8 0; the graph normalises it to (0 - mean) / std).
    if resized_h < SIZE:
        np.testing.assert_array_equal(video[0, :, resized_h:], 0)
    if resized_w < SIZE:
        np.testing.assert_array_equal(video[0, :, :, resized_w:], 0)


# --------------------------------------------------------------------------- inputs
def _without_id(result: Detections) -> Detections:
    return dataclasses.replace(result, video_id="")


class _PipeReader(io.RawIOBase):
    """A readable, NON-seekable stream (like stdin or an HTTP body)."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        chunk = self._buffer.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_file_object_and_array_match_path(detector, video_path):
    from_path = detector.detect(video_path, boxes=BOXES)
    with open(video_path, "rb") as handle:
        assert detector.detect(handle, boxes=BOXES) == from_path
    from_bytes = detector.detect(io.BytesIO(video_path.read_bytes()), boxes=BOXES)
    assert _without_id(from_bytes) == _without_id(from_path)
    from_pipe = detector.detect(_PipeReader(video_path.read_bytes()), boxes=BOXES)
    assert _without_id(from_pipe) == _without_id(from_path)
    frames = np.stack([frame for _, frame in iter_frames(video_path)])
    from_array = detector.detect(frames, fps=FPS, boxes=BOXES)
    assert from_array.video_id == ""
    assert _without_id(from_array) == _without_id(from_path)


def test_keyframes_every_and_person_detector(detector, video_path):
    calls = []

    def people(frame: np.ndarray) -> tuple[list, list]:
        calls.append(frame.shape)
        return [[4, 4, 30, 40]], [0.75]

    result = detector.detect(video_path, every=0.5, person_detector=people, threshold=0.2)
    np.testing.assert_allclose(np.unique(result.timestamps), np.arange(0, 3.0, 0.5))
    assert calls == [(61, 97, 3)] * 6
    assert result.detector == "people" and result.threshold == 0.2
    np.testing.assert_array_equal(result.person_scores, 0.75)


def test_no_people_gives_empty_result(detector, video_path):
    result = detector.detect(video_path, person_detector=lambda frame: ([], []))
    assert len(result) == 0 and result.class_names == tuple(ACTIONS)
    assert result.frame_size == (97, 61)


def _draw_person(image: np.ndarray, x: int, y: int, height: int) -> None:
    """A dark upright stick figure ``height`` px tall, top-left near (x, y)."""
    import cv2

    scale, color = height / 100, (40, 40, 40)

    def px(u: float, v: float) -> tuple[int, int]:
        return round(x + u * scale), round(y + v * scale)

    cv2.circle(image, px(10, 9), round(9 * scale), color, -1)  # head
    cv2.rectangle(image, px(0, 19), px(20, 62), color, -1)  # torso
    for start, end, width in [((2, 22), (-6, 59), 5), ((18, 22), (26, 59), 5)]:  # arms
        cv2.line(image, px(*start), px(*end), color, round(width * scale))
    for start, end in [((5, 61), (2, 101)), ((15, 61), (18, 101))]:  # legs
        cv2.line(image, px(*start), px(*end), color, round(7 * scale))


def test_default_hog_person_detector_finds_the_person(detector):
    from cofin_sdk.person_detection import HogPersonDetector

    frames = np.full((10, 240, 320, 3), 200, np.uint8)
    for frame in frames:
        _draw_person(frame, 120, 60, 120)  # spans about x 113-151, y 60-181
    result = detector.detect(frames, fps=5, timestamps=[1.0])
    assert result.detector == "opencv_hog" and len(result) == 1
    x1, y1, x2, y2 = result.boxes[0]
    assert x1 <= 113 and y1 <= 65 and x2 >= 151 and y2 >= 175 and y2 - y1 < 2 * 120
    hog = HogPersonDetector()(frames[5])  # the keyframe: frame 5 at 5 fps
    np.testing.assert_array_equal(result.boxes, hog.boxes)
    np.testing.assert_array_equal(result.person_scores, hog.scores)
    assert len(detector.detect(np.full_like(frames, 200), fps=5, timestamps=[1.0])) == 0


def test_ava_csv_person_boxes(detector, video_path, tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text(
        "odd_clip,901,0.1,0.1,0.5,0.9,,0.95\nodd_clip,902,0.2,0.0,1.0,1.0,,0.9\n"
        "odd_clip,902,0.0,0.0,0.1,0.1,,0.3\nother,901,0,0,1,1,,0.99\n"
    )
    from cofin_sdk.person_detection import AvaCsvBoxes

    boxes = AvaCsvBoxes(csv, "odd_clip", time_offset=900)
    result = detector.detect(video_path, person_detector=boxes)
    assert result.detector == "ava_csv"
    assert result.timestamps.tolist() == [1.0, 2.0]  # keyframes from the CSV, low score dropped
    np.testing.assert_allclose(result.boxes[1], [0.2 * 97, 0, 97, 61], atol=1e-4)


class _NumpyBackend:
    """A torch-free backend: scores from clip means, to show the boundary is numpy-only."""

    name = "numpy"
    heads = {}
    preprocessing = Preprocessing(image_size=32, num_frames=2, frame_stride=1)

    def __init__(self, heads: dict) -> None:
        self.heads = heads

    def features(self, frames: np.ndarray) -> np.ndarray:
        return frames.mean(axis=(1, 2, 3, 4), dtype=np.float32).reshape(-1, 1, 1, 1) / 255

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        if boxes is None:
            logits = np.concatenate([features[:, 0, 0] * k for k in range(5)], axis=1)
            return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return np.repeat(boxes[:, :, :1] / 32.0, 3, axis=2).astype(np.float32)  # x1 / 32


def test_detector_accepts_any_backend(model):
    backend = _NumpyBackend(dict(model.config.heads))
    assert isinstance(backend, Backend)
    detector = Detector(backend, progress=False)
    result = detector.detect(_frames(5, 40, 40), fps=5, boxes=[[20, 0, 40, 40]])
    np.testing.assert_allclose(result.action_scores, 0.5, atol=1e-6)  # x1 = 20 px of 40 -> 16 of 32
    assert detector.classify(_frames(5, 40, 40), fps=5).head == "k400"


# --------------------------------------------------------------------------- classify
def test_classify_topk_and_clip_averaging(detector, model, video_path):
    single = detector.classify(video_path, head="k400", top_k=3)
    assert isinstance(single, Classifications) and single.num_clips == 1
    assert single.clip_times.tolist() == [1.5]  # middle frame of 30 at 10 fps
    probs = single.probabilities
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    top = single.top_k(3)
    assert [name for name, _ in top] == [LABELS[i] for i in np.argsort(-probs)[:3]]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)

    multi = detector.classify(video_path, head="k400", num_clips=3)
    np.testing.assert_allclose(multi.clip_times, [0.5, 1.5, 2.5])
    prep = Preprocessing(image_size=SIZE, num_frames=NUM_FRAMES, frame_stride=STRIDE)
    clips = [
        preprocess_clip(read_clip(video_path, t, NUM_FRAMES, STRIDE), prep)[0]
        for t in (0.5, 1.5, 2.5)
    ]
    with torch.no_grad():
        expected = torch.softmax(model(torch.stack(clips), head="k400"), dim=-1).numpy()
    np.testing.assert_allclose(multi.clip_probabilities, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(multi.probabilities, expected.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(multi.clip_probabilities[1], single.clip_probabilities[0], atol=1e-6)


def test_defaults_pick_the_only_head_of_each_task(detector, video_path):
    assert detector.classify(video_path).head == "k400"
    assert detector.detect(video_path, boxes=BOXES).class_names == tuple(ACTIONS)
    assert set(detector.heads) == {"ava", "k400"} and detector.preprocessing.frame_stride == STRIDE


# --------------------------------------------------------------------------- errors
GOOD = np.zeros((5, 32, 48, 3), np.uint8)
BOX = [[1, 1, 20, 20]]


def _assert_scores_of_black_video(result, model: torch.nn.Module) -> None:
    """GOOD is all black, so every clip sampled from it is this one, whatever the keyframe."""
    prep = Preprocessing(image_size=SIZE, num_frames=NUM_FRAMES, frame_stride=STRIDE)
    clip, letterbox = preprocess_clip(np.zeros((NUM_FRAMES, *GOOD.shape[1:]), np.uint8), prep)
    with torch.no_grad():
        if isinstance(result, Classifications):
            expected = torch.softmax(model(clip[None], head="k400"), dim=-1)[0].numpy()
            assert result.head == "k400" and result.class_names == tuple(LABELS)
            np.testing.assert_allclose(result.probabilities, expected, atol=1e-6, rtol=0)
            return
        rois = letterbox.pixels_to_input(np.asarray(BOX, np.float32))  # (N, 4)
        rois = torch.from_numpy(np.column_stack([np.zeros(len(rois)), rois]).astype(np.float32))
        expected = torch.sigmoid(model(clip[None], head="ava", boxes=rois)).numpy()
    assert result.frame_size == (GOOD.shape[2], GOOD.shape[1]) and result.timestamps.tolist() == [0]
    np.testing.assert_array_equal(result.boxes, np.asarray(BOX, np.float32))
    np.testing.assert_allclose(result.action_scores, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "method, video, kwargs, error, match",
    [
        ("detect", GOOD, dict(fps=5, boxes=BOX), None, None),
        ("classify", GOOD, dict(fps=5), None, None),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, head="nope"),
            ValueError,
            r"head='nope': no such head; the weights have ava \(detection\)",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, head="k400"),
            ValueError,
            r"head='k400' is a classification head: use Detector.classify\(\) for it, or pass head='ava'",
        ),
        ("classify", GOOD, dict(fps=5, head="ava"), ValueError, "detection head.*detect"),
        (
            "classify",
            GOOD,
            dict(fps=5, head="nope"),
            ValueError,
            r"no such head; the weights have ava \(detection\), k400 \(classification\)",
        ),
        ("detect", GOOD, dict(boxes=BOX), ValueError, "fps is required"),
        ("detect", GOOD, dict(fps=0, boxes=BOX), ValueError, "fps must be a positive"),
        ("detect", GOOD.astype(np.float32), dict(fps=5, boxes=BOX), ValueError, "uint8"),
        ("detect", GOOD[0], dict(fps=5, boxes=BOX), ValueError, r"\(T, H, W, 3\).*frame\[None\]"),
        ("detect", GOOD[..., :1], dict(fps=5, boxes=BOX), ValueError, r"\(T, H, W, 3\)"),
        ("detect", GOOD[:0], dict(fps=5, boxes=BOX), ValueError, "no frames"),
        ("classify", GOOD[:0], dict(fps=5), ValueError, "no frames"),
        ("detect", [[1, 2]], dict(fps=5, boxes=BOX), TypeError, "path, a binary file object"),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=[[1, 1, 60, 20]]),
            ValueError,
            "must lie in the 48x32 frame.*normalized=True",
        ),
        ("detect", GOOD, dict(fps=5, boxes=[[1, np.nan, 6, 20]]), ValueError, "NaN"),
        ("detect", GOOD, dict(fps=5, boxes=[[10, 1, 6, 20]]), ValueError, "x1 <= x2"),
        ("detect", GOOD, dict(fps=5, boxes=[[-1, 1, 6, 20]]), ValueError, "lie in the 48x32"),
        ("detect", GOOD, dict(fps=5, boxes=[[1, 2, 3]]), ValueError, r"\[N, 4\]"),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes={0.0: BOX}, timestamps=[0.4]),
            ValueError,
            r"boxes= has no entry for keyframe\(s\) \[0.4\]",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, timestamps=[5.0]),
            ValueError,
            "must lie in the video",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, every=0),
            ValueError,
            "every=0: must be a positive",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, every=0.1),
            ValueError,
            r"every=0.1 is shorter than the frame period 0.2 s of this 5-fps video",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, normalized=True),
            ValueError,
            r"boxes: box 0 .*must lie in \[0, 1\] \(normalised\); pixel boxes need normalized=False",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, normalized=True),
            ValueError,
            "normalized=True describes boxes=",
        ),
        ("detect", GOOD, dict(fps=5, boxes=BOX, person_detector="hog"), ValueError, "either boxes"),
        (
            "detect",
            GOOD,
            dict(fps=5, boxes=BOX, threshold=2.0),
            ValueError,
            r"threshold must be in \[0, 1\]",
        ),
        (
            "detect",
            GOOD,
            dict(fps=5, person_detector="yolo"),
            ValueError,
            "unknown person detector",
        ),
        ("classify", GOOD, dict(fps=5, top_k=0), ValueError, "top_k must be an int >= 1"),
        ("classify", GOOD, dict(fps=5, num_clips=0), ValueError, "num_clips must be an int >= 1"),
        ("detect", "/no/such/video.mp4", dict(boxes=BOX), FileNotFoundError, "not found"),
    ],
)
def test_error_table(detector, model, method, video, kwargs, error, match):
    call = getattr(detector, method)
    if error is None:
        _assert_scores_of_black_video(call(video, **kwargs), model)
        return
    with pytest.raises(error, match=match):
        call(video, **kwargs)


def test_fps_rejected_for_files_and_bad_constructor(detector, video_path, model):
    with pytest.raises(ValueError, match="fps= is only for numpy arrays"):
        detector.detect(video_path, fps=25, boxes=BOX)
    with pytest.raises(TypeError, match="ViViT model or a Backend"):
        Detector(object())
    with pytest.raises(ValueError, match="batch_size"):
        Detector(model, batch_size=0)


def test_model_without_detection_head(tmp_path):
    model = tiny_model(
        num_frames=2,
        image_size=32,
        heads={"k": {"task": "classification", "num_classes": 2}},
    )
    with pytest.raises(ValueError, match="no detection head"):
        Detector(model, progress=False).detect(GOOD, fps=5, boxes=BOX)


# --------------------------------------------------------------------------- analyze
class _CountingBackend(_SpyBackend):
    def __init__(self, inner: TorchBackend) -> None:
        super().__init__(inner)
        self.heads_run: list[str] = []

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        self.heads_run.append(name)
        return super().head(name, features, boxes)


def test_analyze_runs_the_backbone_once_for_every_head(model, video_path):
    spy = _CountingBackend(TorchBackend(model))
    detector = Detector(spy, progress=False, batch_size=8)
    analysis = detector.analyze(video_path, boxes=BOXES)
    times = sorted(BOXES)
    assert len(spy.frames) == 1 and len(spy.frames[0]) == len(times)  # one pass, all clips
    assert sorted(spy.heads_run) == ["ava", "k400"]
    # The same numbers as the single-task calls.
    alone = Detector(TorchBackend(model), progress=False).detect(video_path, boxes=BOXES)
    assert analysis.detections == alone
    (k400,) = analysis.classifications.values()
    assert k400.head == "k400" and k400.num_clips == len(times)
    np.testing.assert_allclose(k400.clip_times, times)
    for i, time in enumerate(times):
        frames = _frames_at(video_path, time)
        expected = spy.inner.head("k400", spy.inner.features(frames))
        np.testing.assert_allclose(k400.clip_probabilities[i], expected[0], atol=1e-6, rtol=0)
    only_classify = detector.analyze(video_path, heads=["k400"], timestamps=times)
    assert only_classify.detections is None
    np.testing.assert_allclose(
        only_classify.classifications["k400"].clip_probabilities,
        k400.clip_probabilities,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="no such head"):
        detector.analyze(video_path, heads=["nope"], boxes=BOXES)


def _frames_at(video_path, time) -> np.ndarray:
    from cofin_sdk.preprocessing import letterbox_frames

    clip = read_clip(video_path, time, NUM_FRAMES, STRIDE)
    return letterbox_frames(clip, SIZE)[0][None]
