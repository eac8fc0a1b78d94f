"""A client with no torch installed: ``Detector.from_export`` (onnxruntime) and
``Detector.from_triton`` (a real tritonserver) detect, classify and analyze a video, and
answer what the torch model answers (within 1e-4), without ever importing torch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from cases import BOXES, run_cases

from cofin_sdk import Detector
from cofin_sdk.preprocessing import LEGACY_RESIZE, letterbox_frames

pytestmark = pytest.mark.client


def _check(answers: dict[str, np.ndarray], reference: dict[str, np.ndarray], atol: float) -> None:
    assert set(answers) == set(reference)
    for key, expected in reference.items():
        assert answers[key].shape == expected.shape, key
        np.testing.assert_allclose(answers[key], expected, atol=atol, rtol=0, err_msg=key)
    assert "torch" not in sys.modules, "the client path imported torch"


def test_this_environment_has_no_torch(fixtures: Path) -> None:
    assert importlib.util.find_spec("torch") is None, "run the client set in a .[client] venv"


def test_export_detects_classifies_and_analyzes(fixtures, reference) -> None:
    detector = Detector.from_export(fixtures / "export", intra_op_threads=1, progress=False)
    assert detector.preprocessing.resize == "cv2_area"
    _check(run_cases(detector, fixtures / "video.mp4"), reference, atol=1e-4)


def test_int8_export_stays_close(fixtures, reference) -> None:
    detector = Detector.from_export(fixtures / "export", int8=True, progress=False)
    _check(run_cases(detector, fixtures / "video.mp4"), reference, atol=2e-2)


def test_triton_detects_classifies_and_analyzes(triton_url, fixtures, reference) -> None:
    detector = Detector.from_triton(triton_url, progress=False)
    _check(run_cases(detector, fixtures / "video.mp4"), reference, atol=1e-4)


def test_a_stream_needs_no_torch(fixtures) -> None:
    detector = Detector.from_export(fixtures / "export", progress=False)
    with detector.stream(
        str(fixtures / "video.mp4"), every=1.0, drop="none", boxes=BOXES[2.0]
    ) as stream:
        results = list(stream)
    assert [r.index for r in results] == list(range(len(results))) and len(results) >= 2
    assert all(r.detections is not None for r in results)
    assert "torch" not in sys.modules


def test_hog_person_boxes_need_no_torch(fixtures) -> None:
    detector = Detector.from_export(fixtures / "export", progress=False)
    detections = detector.detect(str(fixtures / "video.mp4"), person_detector="hog")
    assert detections.boxes.shape[1] == 4 and detections.detector == "opencv_hog"
    assert "torch" not in sys.modules


def test_an_old_record_names_what_to_install(fixtures) -> None:
    frames = np.zeros((2, 48, 64, 3), np.uint8)
    with pytest.raises(ImportError, match=r'pip install "cofin-sdk\[torch\]"'):
        letterbox_frames(frames, 32, resize=LEGACY_RESIZE)


def test_the_torch_model_names_what_to_install(fixtures) -> None:
    with pytest.raises(ImportError, match=r'needs torch: pip install "cofin-sdk\[torch\]"'):
        Detector.from_pretrained(fixtures / "model")


def test_tracking_needs_no_torch(fixtures, triton_url) -> None:
    """With the ``track`` extra added to the client (``.ci/client``'s second step): person
    tracks on a file and on a stream, from an export and from a Triton server, no torch."""
    pytest.importorskip("supervision", reason="the track extra: .ci/client adds it next")
    video = str(fixtures / "video.mp4")
    for detector in (
        Detector.from_export(fixtures / "export", progress=False),
        Detector.from_triton(triton_url, progress=False),
    ):
        result = detector.detect(video, boxes=BOXES[2.0], track=True)
        keyframes = sorted(set(result.timestamps.tolist()))
        assert len(keyframes) >= 2 and result.track_ids.tolist() == [1, 2] * len(keyframes)
        with detector.stream(video, drop="none", boxes=BOXES[2.0], track=True) as live:
            streamed = [r.detections.track_ids.tolist() for r in live]
        assert streamed == [[1, 2]] * len(keyframes)
    assert "torch" not in sys.modules
