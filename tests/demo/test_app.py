"""The demo through ``gradio_client`` against the real server, checked against the SDK."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from cofin_sdk.person_detection import AVA_TIME_OFFSET, AvaCsvBoxes
from cofin_sdk.results import Detections
from cofin_sdk.results.timeline import ActionTimeline
from demo.app import (
    ANNOTATED_MIN_HEIGHT,
    TABLE_COLUMNS,
    TRACK_FPS,
    CofinDemo,
    load_detector,
    person_timeline,
)

THRESHOLD, EVERY = 0.3, 1.0


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> Client:
    return Client(server.url, download_files=str(tmp_path_factory.mktemp("client")), verbose=False)


def _expected(server, video: Path, heads: list[str]):
    """What the SDK itself says for the same inputs (the demo uses the example box file)."""
    boxes = AvaCsvBoxes(server.examples.boxes_csv, time_offset=AVA_TIME_OFFSET)
    return server.detector.analyze(
        video,
        heads=["ava", *heads],
        every=EVERY,
        threshold=THRESHOLD,
        person_detector=boxes,
        track=True,
        track_fps=TRACK_FPS,
    )


def _video_facts(path: str | Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "frames": frames,
        }


def test_round_trip_matches_the_sdk(server, client, tmp_path):
    video = server.examples.videos[0]
    outputs = client.predict(
        handle_file(str(video)), THRESHOLD, EVERY, ["kinetics"], api_name="/analyze"
    )
    annotated, summary, table, csv_path, json_path, plot, people, label = outputs
    expected = _expected(server, video, ["kinetics"])
    detections = expected.detections
    assert len(detections) > 3  # the example's box file found people

    # Annotated video: browser-playable H.264 like Detections.save_video's, index first.
    reference = detections.save_video(tmp_path / "ref.mp4", video, min_height=ANNOTATED_MIN_HEIGHT)
    facts = _video_facts(annotated)
    assert facts == {**_video_facts(reference), "codec": "h264", "pix_fmt": "yuv420p"}
    assert facts["size"][1] >= ANNOTATED_MIN_HEIGHT
    data = Path(annotated).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat"), "moov must come first (+faststart)"

    # Table: one row per detection, same times, boxes and top actions.
    assert table["headers"] == TABLE_COLUMNS
    rows = pd.DataFrame(table["data"], columns=table["headers"])
    assert len(rows) == len(detections)
    np.testing.assert_allclose(rows["time (s)"], detections.timestamps, atol=1e-3)
    assert rows["track"].tolist() == detections.track_ids.tolist()
    assert (detections.track_ids > 0).any()  # the example's people are tracked
    np.testing.assert_allclose(rows[["x1", "y1", "x2", "y2"]], detections.boxes, atol=0.051)
    assert rows["top actions"].tolist() == detections.labels(3)

    # Downloads: the JSON is the SDK's Detections exactly, the CSV its to_pandas rows.
    assert Detections.from_json(json_path) == detections
    timeline = person_timeline(detections, EVERY)
    assert ActionTimeline.from_json(json_path) == timeline  # the per-person timeline travels too
    frame = pd.read_csv(csv_path)
    assert len(frame) == len(detections)
    np.testing.assert_allclose(frame[list(detections.class_names)], detections.action_scores)

    # Top-5 of the classification head, and the timeline picture.
    top5 = expected.classifications["kinetics"].top_k(5)
    assert [(c["label"], c["confidence"]) for c in label["confidences"]] == top5
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    assert people["type"] == "matplotlib" and people["plot"].startswith("data:image/png;base64,")
    assert f"{len(detections)} person boxes" in summary


def test_unticked_heads_are_not_run(server, client):
    video = server.examples.videos[-1]
    *_, json_path, _plot, _people, label = client.predict(
        handle_file(str(video)), THRESHOLD, EVERY, [], api_name="/analyze"
    )
    assert not label  # the head's gr.Label is cleared
    assert Detections.from_json(json_path) == _expected(server, video, []).detections


def _corrupt(tmp_path: Path, kind: str, example: Path) -> Path:
    if kind == "garbage.mp4":
        (tmp_path / kind).write_bytes(b"\x00\x00\x00 this is not a video" * 64)
    elif kind == "notes.txt":
        (tmp_path / kind).write_text("a text file, not a video\n")
    else:  # truncated.mp4: the first 3 kB of a real video
        (tmp_path / kind).write_bytes(example.read_bytes()[:3000])
    return tmp_path / kind


@pytest.mark.parametrize("kind", ["garbage.mp4", "notes.txt", "truncated.mp4"])
def test_corrupt_upload_shows_the_sdk_message(server, client, tmp_path, kind):
    bad = _corrupt(tmp_path, kind, server.examples.videos[0])
    with pytest.raises(ValueError) as sdk_error:
        server.detector.analyze(bad, every=EVERY)
    with pytest.raises(AppError) as page_error:
        client.predict(handle_file(str(bad)), THRESHOLD, EVERY, ["kinetics"], api_name="/analyze")
    message = str(page_error.value)
    assert message == str(sdk_error.value).replace(str(bad), bad.name)  # no server paths
    assert "Traceback" not in message and "\n" not in message


def test_keyframe_interval_below_the_frame_period_is_the_sdks_message(server, client):
    # The 10-fps examples allow 0.1 s; the slider stops at 0.2, so call the handler directly.
    video = str(server.examples.videos[0])
    with pytest.raises(Exception, match=r"shorter than the frame period") as error:
        server.demo.analyze(video, THRESHOLD, 0.05, [])
    assert type(error.value).__name__ == "Error"  # gr.Error: shown in the page


def test_request_folders_are_removed_on_close(model_dir, tmp_path):
    demo = CofinDemo(load_detector(model_dir), work_dir=tmp_path)
    assert demo.work_dir.parent == tmp_path and demo.work_dir.is_dir()
    demo.close()
    assert not demo.work_dir.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "tensorflow"}, "expected one of torch, onnx, triton"),
        ({"backend": "triton"}, "needs the server's url"),
        ({"backend": "torch", "url": "grpc://127.0.0.1:8001"}, "only for backend 'triton'"),
    ],
)
def test_load_detector_bad_backend(model_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_detector(model_dir, **kwargs)


@pytest.mark.slow
def test_onnx_backend_serves_the_same_results(server, model_dir, tmp_path):
    from cofin_sdk import Detector

    if "backend" not in inspect.signature(Detector.from_pretrained).parameters:
        with pytest.raises(ValueError, match="backend 'onnx' is not available"):
            load_detector(model_dir, backend="onnx")
        return
    pytest.importorskip("onnxruntime", reason='pip install "cofin-sdk[onnx]"')
    video = str(server.examples.videos[0])
    want = server.demo.analyze(video, THRESHOLD, EVERY, ["kinetics"])
    onnx_demo = CofinDemo(
        load_detector(model_dir, backend="onnx"), examples=server.examples, work_dir=tmp_path
    )  # exports the weights to a temporary folder first (~10 s)
    try:
        got = onnx_demo.analyze(video, THRESHOLD, EVERY, ["kinetics"])
        onnx_dets = Detections.from_json(got[4])
    finally:
        onnx_demo.close()
    torch_dets = Detections.from_json(want[4])
    np.testing.assert_array_equal(onnx_dets.boxes, torch_dets.boxes)
    np.testing.assert_allclose(onnx_dets.action_scores, torch_dets.action_scores, atol=1e-4)
    assert list(got[-1]) == list(want[-1])  # the same top-5 classes, in order


def test_triton_backend_goes_through_detector_from_triton(model_dir, monkeypatch):
    from cofin_sdk import Detector

    calls = []
    fake = classmethod(lambda cls, url, **kwargs: calls.append((url, kwargs)) or "detector")
    monkeypatch.setattr(Detector, "from_triton", fake, raising=False)
    assert load_detector(model_dir, backend="triton", url="grpc://127.0.0.1:1") == "detector"
    assert calls == [("grpc://127.0.0.1:1", {"progress": True})]


def test_triton_backend_without_detector_from_triton_is_not_available(model_dir, monkeypatch):
    from cofin_sdk import Detector

    monkeypatch.delattr(Detector, "from_triton", raising=False)
    with pytest.raises(ValueError, match="backend 'triton' is not available yet"):
        load_detector(model_dir, backend="triton", url="grpc://127.0.0.1:1")


# The CLI's bad input (flags) is in tests/test_bad_input.py's table.


def test_cli_help_loads_neither_gradio_nor_torch():
    code = textwrap.dedent("""
        import sys
        from cofin_sdk.cli.main import main
        try:
            main(["demo", "--help"])
        except SystemExit:
            pass
        print(sorted(m for m in ("gradio", "torch") if m in sys.modules), file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--model" in result.stdout and "--backend" in result.stdout
    assert result.stderr.strip() == "[]"


def test_labels_list_five_classes_of_the_head(server, client):
    *_, label = client.predict(
        handle_file(str(server.examples.videos[0])), 0.0, 2.0, ["kinetics"], api_name="/analyze"
    )
    assert len(label["confidences"]) == 5
    assert {c["label"] for c in label["confidences"]} <= set(
        server.detector.heads["kinetics"].class_names
    )
