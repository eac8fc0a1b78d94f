"""``TritonBackend`` / ``Detector.from_triton`` against a real server: torch vs onnxruntime
vs Triton parity on a video for every head, one ensemble run per batch, 8 concurrent
clients, and the server's own messages for malformed requests."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cofin_sdk import Detector
from cofin_sdk.backends import TritonBackend
from cofin_sdk.backends.triton_backend import TritonClips, TritonRequestError
from cofin_sdk.io.video import write_video

TOL = 1e-4
PROTOCOLS = ["grpc", "http"]


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 4-s 64x48 mp4 at 10 fps."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (40, 48, 64, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, frames, fps=10)
    return path


BOXES = {  # pixels of the 64x48 frame; 0, 1, 2 and 3 people
    0.5: np.zeros((0, 4)),
    1.5: [[4, 4, 30, 40]],
    2.5: [[4, 4, 30, 40], [20, 10, 60, 47]],
    3.5: [[0, 0, 64, 48], [10, 5, 20, 30], [30, 20, 63, 47]],
}


@pytest.fixture(scope="module")
def torch_detector(built):
    return Detector.from_pretrained(built["model"], progress=False, batch_size=3)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_parity_torch_onnxruntime_triton(built, server, torch_detector, video, protocol):
    onnx = Detector.from_export(built["export"], progress=False, batch_size=3)
    triton = Detector.from_triton(url(server, protocol), progress=False, batch_size=3)
    assert triton.heads == torch_detector.heads  # labels from the server alone
    assert triton.preprocessing == torch_detector.preprocessing
    results = [d.analyze(video, boxes=BOXES) for d in (torch_detector, onnx, triton)]
    reference = results[0]
    assert len(reference.detections) == 6
    for other in results[1:]:
        np.testing.assert_array_equal(other.detections.boxes, reference.detections.boxes)
        np.testing.assert_array_equal(other.detections.timestamps, reference.detections.timestamps)
        np.testing.assert_allclose(
            other.detections.action_scores, reference.detections.action_scores, atol=TOL, rtol=0
        )
        assert other.detections.class_names == ("stand", "sit", "walk", "run", "wave")
        assert set(other.classifications) == {"kinetics", "ssv2"}
        for head, expected in reference.classifications.items():
            got = other.classifications[head]
            np.testing.assert_allclose(
                got.clip_probabilities, expected.clip_probabilities, atol=TOL, rtol=0
            )
    # detect() and classify() on their own
    detections = triton.detect(video, boxes=BOXES)
    np.testing.assert_allclose(
        detections.action_scores, reference.detections.action_scores, atol=TOL, rtol=0
    )
    for head in ("kinetics", "ssv2"):
        got = triton.classify(video, head=head, num_clips=3)
        expected = torch_detector.classify(video, head=head, num_clips=3)
        np.testing.assert_allclose(
            got.clip_probabilities, expected.clip_probabilities, atol=TOL, rtol=0
        )
        assert got.top_k(2)[0][0] == expected.top_k(2)[0][0]


def test_one_ensemble_run_per_batch(server, video):
    detector = Detector.from_triton(server.grpc_url, progress=False, batch_size=3)
    sent = []
    infer = detector.backend.infer
    detector.backend.infer = lambda inputs, outputs=None: (
        sent.append({k: v.shape for k, v in inputs.items()}) or infer(inputs, outputs)
    )
    detector.analyze(video, boxes=BOXES)  # 4 keyframes in batches of 3 -> 2 runs
    assert sent == [
        {"frames": (3, 4, 32, 32, 3), "boxes": (3, 8, 4)},  # 2 boxes padded to the 8 bucket
        {"frames": (1, 4, 32, 32, 3), "boxes": (1, 8, 4)},
    ]
    sent.clear()
    detector.classify(video, head="ssv2", num_clips=2)  # one whole-input box per clip
    assert sent == [{"frames": (2, 4, 32, 32, 3), "boxes": (2, 8, 4)}]


def test_handle_views_and_bucket_padding(server, onnx_backend, random_inputs):
    backend = TritonBackend(server.grpc_url)
    frames, boxes = random_inputs(0, 5, 17)  # 17 boxes -> the 32 bucket
    clips = backend.features(frames)
    assert isinstance(clips, TritonClips) and len(clips) == 5
    features = onnx_backend.features(frames)
    view = clips[[1, 3]]
    got = backend.head("ava", view, boxes[[1, 3]])
    np.testing.assert_allclose(
        got, onnx_backend.head("ava", features[[1, 3]], boxes[[1, 3]]), atol=TOL
    )
    assert got.shape == (2, 17, 5)
    for head in ("kinetics", "ssv2"):  # served from the run above, for all 5 clips
        assert head in clips.cache
        np.testing.assert_allclose(
            backend.head(head, clips), onnx_backend.head(head, features), atol=TOL
        )
    # more clips than max_batch (8): split into requests
    frames, boxes = random_inputs(1, 11, 2)
    scores = backend.run_all(frames, boxes)
    features = onnx_backend.features(frames)
    np.testing.assert_allclose(scores["ava"], onnx_backend.head("ava", features, boxes), atol=TOL)
    assert set(backend.run_all(frames)) == {"kinetics", "ssv2"}
    with pytest.raises(TypeError, match="TritonClips"):
        backend.head("kinetics", features)
    with pytest.raises(ValueError, match="N >= 1"):
        backend.head("ava", clips, np.zeros((5, 0, 4), np.float32))
    with pytest.raises(ValueError, match="frames must have shape"):
        backend.features(np.zeros((1, 4, 16, 16, 3), np.uint8))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_eight_threads_every_answer_is_its_own(server, onnx_backend, random_inputs, protocol):
    backend = TritonBackend(url(server, protocol), timeout_s=30)
    errors: list[BaseException] = []
    checked = []

    def client(thread: int) -> None:
        try:
            for i in range(4):
                seed = 100 * thread + i
                count = (thread + 3 * i) % 13  # 0..12 boxes
                frames, boxes = random_inputs(seed, 1 + seed % 2, count)
                scores = backend.run_all(frames, boxes)
                features = onnx_backend.features(frames)
                for head in ("kinetics", "ssv2"):
                    np.testing.assert_allclose(
                        scores[head], onnx_backend.head(head, features), atol=TOL
                    )
                if count:
                    assert scores["ava"].shape == (len(frames), count, 5)
                    np.testing.assert_allclose(
                        scores["ava"], onnx_backend.head("ava", features, boxes), atol=TOL
                    )
                else:
                    assert "ava" not in scores
                checked.append(seed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[0]
    assert len(checked) == 32
    assert len(backend._clients) == 9  # one client per thread (+ the constructing one)
    backend.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_requests_surface_the_server_message(server, protocol, random_inputs):
    backend = TritonBackend(url(server, protocol))
    frames, boxes = random_inputs(0, 1, 8)
    cases = [
        (
            {"frames": frames.astype(np.float32), "boxes": boxes},
            "data-type is .FP32.*expects .UINT8",
        ),  # wrong dtype
        ({"frames": frames[:, :, :16], "boxes": boxes}, "shape"),  # wrong shape
        ({"frames": frames, "boxes": boxes[:, :, :3]}, "shape"),
        ({"frames": frames}, "boxes"),  # a missing input
    ]
    for inputs, word in cases:
        with pytest.raises(TritonRequestError, match=word) as info:
            backend.infer(inputs)
        assert f"Triton server at {backend.url} rejected the request" in str(info.value)
        assert info.value.server_message in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(TritonRequestError, match="has no model 'nope'.*cofin_backbone"):
        TritonBackend(url(server, protocol), model="nope")
    with pytest.raises(ValueError, match="no 'cofin_record'|no 'frames' input"):
        TritonBackend(url(server, protocol), model="cofin_head_kinetics")  # not the ensemble


@pytest.mark.parametrize(
    "bad, message",
    [
        ("127.0.0.1:8001", "expected http://HOST:PORT or grpc://HOST:PORT"),
        ("ftp://x:1", "expected"),
    ],
)
def test_bad_urls(bad, message):
    with pytest.raises(ValueError, match=message):
        TritonBackend(bad)


def test_client_is_torch_free_and_names_the_extra(server):
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from cofin_sdk import Detector\n"
        f"d = Detector.from_triton({server.grpc_url!r}, progress=False)\n"
        "print(sorted(d.backend.run_all(np.zeros((1, 4, 32, 32, 3), np.uint8))))\n"
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["['kinetics', 'ssv2']", "False False"]


def test_missing_tritonclient_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)
    with pytest.raises(ImportError, match=r'pip install "cofin-sdk\[triton\]"'):
        TritonBackend("grpc://127.0.0.1:1")
