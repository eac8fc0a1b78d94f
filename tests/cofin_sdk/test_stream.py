"""Detector.stream on a real network stream: Debian's ffmpeg serves MPEG-TS over TCP on
loopback at the clip's real-time rate (``-re``), and the Detector reads it as a client.

Each test takes a few seconds (the clip's length). Latency goals are measured by
``benchmarks/stream_latency.py``, not asserted here.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _fixtures import (
    CROSSING_BLUE,
    CROSSING_RED,
    ColourPeople,
    crossing_frames,
    crossing_positions,
    moving_block_frames,
    tiny_model,
)

from cofin_sdk.backends import Backend
from cofin_sdk.detector import Detector
from cofin_sdk.io.video import iter_frames, write_video

FPS, SECONDS, NUM_FRAMES, STRIDE, SIZE = 10, 3, 4, 2, 64
BOX = [[10.0, 5.0, 60.0, 58.0]]
FFMPEG = shutil.which("ffmpeg")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(
        num_frames=NUM_FRAMES,
        image_size=SIZE,
        heads={
            "ava": {"task": "detection", "num_classes": 3, "class_names": ["a", "b", "c"]},
            "k400": {"task": "classification", "num_classes": 4},
        },
    )
    model.preprocessing = {"frame_stride": STRIDE}
    return Path(model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny")))


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> Detector:
    return Detector.from_pretrained(model_dir, progress=False, batch_size=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "clip.mp4"
    write_video(path, moving_block_frames(FPS * SECONDS, 61, 97), fps=FPS, pix_fmt="yuv444p")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something listens on ``port`` (read from /proc: a probe connection would be
    the one client ffmpeg accepts)."""
    wanted = f":{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(wanted) and fields[3] == "0A":
            return True
    return False


@pytest.fixture()
def serve(clip: Path) -> Iterator:
    """``serve() -> (url, process)``: ffmpeg serving the clip at real-time rate over TCP."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is missing: apt-get install -y ffmpeg (.ci/run does)")
    processes: list[subprocess.Popen] = []

    def start(
        port: int | None = None, loop: bool = False, clip: Path = clip
    ) -> tuple[str, subprocess.Popen]:
        port = port or _free_port()
        url = f"tcp://127.0.0.1:{port}"
        looping = ["-stream_loop", "-1"] if loop else []  # endless: ends when the client goes
        command = [FFMPEG, "-v", "error", "-re", *looping, "-i", str(clip), "-c", "copy"]
        command += ["-f", "mpegts"]
        process = subprocess.Popen([*command, f"{url}?listen=1"], stderr=subprocess.DEVNULL)
        processes.append(process)
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline and process.poll() is None, "ffmpeg did not listen"
            time.sleep(0.05)
        return url, process

    yield start
    for process in processes:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


def test_network_stream_equals_file(detector: Detector, clip: Path, serve) -> None:
    """Centre placement, every keyframe: the same scores as Detector.analyze on the file."""
    url, _ = serve()
    with detector.stream(url, keyframe="centre", drop="none", boxes=BOX, timeout_s=5) as live:
        results = list(live)
    reference = detector.analyze(clip, boxes=BOX, every=1.0)
    assert [r.time for r in results] == [0.0, 1.0, 2.0]
    assert [r.index for r in results] == [0, 1, 2]
    assert sum(r.dropped for r in results) == 0
    live_detections = [r.detections for r in results]
    scores = np.concatenate([d.action_scores for d in live_detections])
    np.testing.assert_allclose(scores, reference.detections.action_scores, atol=1e-6)
    np.testing.assert_array_equal(
        np.concatenate([d.boxes for d in live_detections]), reference.detections.boxes
    )
    probs = np.concatenate([r.classifications["k400"].clip_probabilities for r in results])
    np.testing.assert_allclose(
        probs, reference.classifications["k400"].clip_probabilities, atol=1e-6
    )
    for r in results:  # real time: a keyframe's result follows its arrival
        assert r.frame_time == pytest.approx(r.time, abs=0.5 / FPS)
        assert r.result_wall_time >= r.arrival_wall_time


def test_causal_clip_ends_at_keyframe(detector: Detector, clip: Path) -> None:
    """Causal placement sees only frames up to the keyframe: the file path with
    ``keyframe="causal"`` preprocessing gives the same scores (frames from an iterator)."""
    frames = list(iter_frames(clip))
    with detector.stream(
        iter([(f, t) for t, f in frames]), fps=FPS, keyframe="causal", drop="none", boxes=BOX
    ) as live:
        results = list(live)
    model = detector.backend.model
    model.preprocessing = {"keyframe": "causal"}  # as a causally trained model records it
    try:
        reference = Detector(model, progress=False).detect(clip, boxes=BOX, every=1.0)
    finally:
        model.preprocessing = {"keyframe": "centre"}
    scores = np.concatenate([r.detections.action_scores for r in results])
    np.testing.assert_allclose(scores, reference.action_scores, atol=1e-6)
    centre = detector.detect(clip, boxes=BOX, every=1.0)
    assert not np.allclose(scores[1:], centre.action_scores[1:], atol=1e-4)


def test_cut_stream_ends_cleanly(detector: Detector, serve) -> None:
    url, process = serve()
    live = detector.stream(url, boxes=BOX, timeout_s=5)
    first = next(live)
    process.kill()  # the server goes away mid-stream: end of stream, not an error
    rest = list(live)
    assert first.time == 0.0 and all(r.time < SECONDS for r in rest)
    assert not live.reader.alive


def test_stalled_stream_times_out(detector: Detector, serve) -> None:
    url, process = serve()
    timeout_s = 1.0
    with detector.stream(url, boxes=BOX, timeout_s=timeout_s) as live:
        next(live)
        process.send_signal(signal.SIGSTOP)  # connection open, no more data
        stalled = time.monotonic()
        with pytest.raises(TimeoutError, match="timeout_s=1"):
            for _ in live:
                pass
        waited = time.monotonic() - stalled
    assert 0.95 * timeout_s <= waited <= timeout_s + 1.0
    assert not live.reader.alive


def test_stalled_stream_reconnects(detector: Detector, serve, caplog) -> None:
    """reconnect=5: after the stall the URL is opened again (a new server on the same port,
    refusing connections until it has started) and the keyframes go on, later in the
    stream's timeline; each attempt is logged."""
    url, process = serve()
    with detector.stream(url, boxes=BOX, timeout_s=1.0, reconnect=5) as live:
        first = next(live)
        process.send_signal(signal.SIGSTOP)
        serve(int(url.rsplit(":", 1)[1]))  # the camera is back
        with caplog.at_level("WARNING", logger="cofin_sdk.io.stream"):
            rest = list(live)
    assert 1 <= live.reader.reconnects <= 5 and "reconnecting (attempt 1 of 5)" in caplog.text
    assert rest and rest[-1].time > first.time + SECONDS - 1  # the second stream's keyframes
    assert [r.index for r in rest] == sorted({r.index for r in rest})


class _Slow(Backend):
    """The tiny model's backend, made slower than the stream by a fixed sleep per batch."""

    def __init__(self, inner: Backend, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds
        self.name, self.heads, self.preprocessing = "slow", inner.heads, inner.preprocessing

    def features(self, frames: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        return self.inner.features(frames)

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        return self.inner.head(name, features, boxes)


def test_slow_backend_drops_keyframes_and_keeps_latency(detector: Detector, serve) -> None:
    """Keyframes every 0.2 s, 0.5 s of inference each: drop="latest" skips keyframes, says
    how many, and the latency stays near one inference instead of growing with the stream."""
    url, _ = serve()
    slow = Detector(_Slow(detector.backend, 0.5), progress=False)
    with slow.stream(url, every=0.2, drop="latest", boxes=BOX, timeout_s=5) as live:
        results = list(live)
    total = int(np.floor((SECONDS - 1 / FPS) / 0.2 + 1e-9)) + 1  # keyframes in the clip
    dropped = sum(r.dropped for r in results)
    assert dropped > 0 and live.dropped == dropped
    assert len(results) + dropped == total
    assert [r.index for r in results] == sorted({r.index for r in results})
    latencies = [r.latency for r in results]
    assert max(latencies) < 0.5 * 3 + 0.2, latencies  # bounded: not SECONDS behind


def test_close_releases_source(detector: Detector, serve) -> None:
    url, process = serve(loop=True)  # endless: only the client leaving ends it
    before = threading.active_count()
    live = detector.stream(url, boxes=BOX)
    next(live)
    live.close()
    assert not live.reader.alive and threading.active_count() <= before
    process.wait(timeout=10)  # ffmpeg sees its client gone and exits


@pytest.mark.parametrize(
    "source, kwargs, error, match",
    [
        ("ftp://127.0.0.1/live", {}, ValueError, "unsupported scheme ftp://"),
        ("tcp://127.0.0.1:{port}", {}, ConnectionError, "cannot open stream"),
        ("tcp://127.0.0.1:{port}", {"every": 0}, ValueError, "every=0"),
        ("tcp://127.0.0.1:{port}", {"keyframe": "middle"}, ValueError, "keyframe='middle'"),
        ("tcp://127.0.0.1:{port}", {"drop": "oldest"}, ValueError, "drop='oldest'"),
        (
            "tcp://127.0.0.1:{port}",
            {"track": True, "heads": ["k400"]},
            ValueError,
            "track=True tracks people, which needs a detection head",
        ),
        ("tcp://127.0.0.1:{port}", {"track": True, "track_fps": 0}, ValueError, "track_fps=0"),
        ("missing.mp4", {}, FileNotFoundError, "not found"),
        (iter([]), {}, ValueError, "fps= is required"),
    ],
)
def test_bad_input_fails_before_any_thread(detector: Detector, source, kwargs, error, match):
    if isinstance(source, str):
        source = source.format(port=_free_port())  # nothing listens there
    before = threading.active_count()
    with pytest.raises(error, match=match) as info:
        detector.stream(source, boxes=BOX, timeout_s=2, **kwargs)
    assert "\n" not in str(info.value)
    assert threading.active_count() == before


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_watch_cli(model_dir: Path, serve, tmp_path: Path, capsys, backend: str) -> None:
    """``cofin watch`` on the live stream: a line per keyframe, JSON lines, a recording;
    with ``--backend onnx`` on an export folder (Detector.from_export)."""
    import json

    from cofin_sdk.cli.main import main
    from cofin_sdk.io.video import probe

    model = model_dir
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
        assert main(["export", str(model_dir), "--out", str(tmp_path / "export")]) == 0
        model = tmp_path / "export"
    url, _ = serve()
    jsonl, out = tmp_path / "live.jsonl", tmp_path / "live.mp4"
    argv = ["watch", url, "--model", str(model), "--backend", backend, "--drop", "none"]
    argv += ["--box", "10,5,60,58"]  # a loaded machine may fall behind: score every keyframe
    assert main([*argv, "--jsonl", str(jsonl), "--out", str(out), "--timeout", "5"]) == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["time"] for line in lines] == [0.0, 1.0, 2.0]
    assert all(len(line["people"]) == 1 and line["latency"] >= 0 for line in lines)
    assert set(lines[0]["classifications"]) == {"k400"}
    printed = capsys.readouterr().out
    assert printed.count("1 people") == 3 and "3 keyframes scored, 0 dropped" in printed
    assert probe(out).num_frames == 3


def test_corrupt_packets_are_skipped_and_counted(detector: Detector, clip: Path, caplog) -> None:
    """MPEG-TS with transport packets lost (as on UDP) through a pipe: the damaged packets
    are skipped with a warning, counted, and the stream still ends with every keyframe."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is missing: apt-get install -y ffmpeg (.ci/run does)")
    import io

    ts = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", "-f", "mpegts", "-"],
        check=True,
        capture_output=True,
    ).stdout
    packets = [ts[i : i + 188] for i in range(0, len(ts), 188)]
    n = len(packets)
    damaged = b"".join(p for i, p in enumerate(packets) if not (n // 3 < i < n // 2 and i % 5 == 0))
    live = detector.stream(io.BytesIO(damaged), drop="none", boxes=BOX)
    with caplog.at_level("WARNING", logger="cofin_sdk.io.stream"), live:
        results = list(live)
    assert live.corrupt_packets > 0
    assert "skipped a corrupt packet" in caplog.text
    assert [r.time for r in results] == [0.0, 1.0, 2.0]


def test_ctrl_c_stops_watch_and_releases_the_source(model_dir: Path, serve) -> None:
    """SIGINT to a running ``cofin watch``: exit 130 at once, and the server sees its client
    gone (the reader thread was joined and the connection closed)."""
    import sys

    url, server = serve(loop=True)
    command = [sys.executable, "-m", "cofin_sdk.cli.main", "watch", url, "--model", str(model_dir)]
    watch = subprocess.Popen(
        [*command, "--box", "10,5,60,58"], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert watch.stdout.readline().startswith("t=")  # the first keyframe's line
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=10) == 130
        server.wait(timeout=10)
    finally:
        watch.kill()


# -- tracking on streams: one tracker per stream, people at track_fps from the ring --
CROSS_FPS = 25


@pytest.fixture(scope="module")
def crossing_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crossing") / "crossing.mp4"
    write_video(path, crossing_frames(CROSS_FPS), fps=CROSS_FPS, pix_fmt="yuv444p")
    return path


def _colour_ids(results) -> dict[tuple, set[int]]:
    """Track ids seen per person colour (the keyframe at 2 s, where they overlap, left out)."""
    ids_of: dict[tuple, set[int]] = {}
    for r in results:
        if abs(r.time - 2.0) < 1e-6:
            continue
        for box, track in zip(r.detections.boxes, r.detections.track_ids, strict=True):
            colour = min(crossing_positions(r.time).items(), key=lambda kv: abs(kv[1] - box[0]))
            ids_of.setdefault(colour[0], set()).add(int(track))
    return ids_of


def test_stream_tracks_equal_the_file_tracks(detector: Detector) -> None:
    """An iterator stream (centre, every keyframe) gets the track ids and boxes that
    Detector.detect(track=True) gets on the same frames: one tracking rule for both."""
    frames = crossing_frames(CROSS_FPS)
    source = iter([(f, n / CROSS_FPS) for n, f in enumerate(frames)])
    with detector.stream(
        source, fps=CROSS_FPS, keyframe="centre", drop="none", track=True, track_fps=10,
        person_detector=ColourPeople(),
    ) as live:  # fmt: skip
        results = list(live)
    reference = detector.detect(
        frames, fps=CROSS_FPS, track=True, track_fps=10, person_detector=ColourPeople()
    )
    assert [r.time for r in results] == [0.0, 1.0, 2.0, 3.0]
    live_ids = np.concatenate([r.detections.track_ids for r in results])
    np.testing.assert_array_equal(live_ids, reference.track_ids)
    np.testing.assert_array_equal(
        np.concatenate([r.detections.boxes for r in results]), reference.boxes
    )
    ids_of = _colour_ids(results)
    assert len(ids_of[CROSSING_RED]) == len(ids_of[CROSSING_BLUE]) == 1
    assert ids_of[CROSSING_RED].isdisjoint(ids_of[CROSSING_BLUE])


def test_network_stream_tracks_people(detector: Detector, crossing_clip: Path, serve) -> None:
    """Live over TCP, causal keyframes: each person keeps one id through the crossing, and
    the JSON line of a keyframe carries the ids."""
    url, _ = serve(clip=crossing_clip)
    people = ColourPeople(tolerance=60)  # colours after H.264
    with detector.stream(
        url, drop="none", track=True, track_fps=10, person_detector=people, timeout_s=5
    ) as live:
        results = list(live)
    assert len(results) == 4 and all(len(r.detections) == 2 for r in results[:2])
    ids_of = _colour_ids(results)
    assert len(ids_of[CROSSING_RED]) == len(ids_of[CROSSING_BLUE]) == 1
    assert ids_of[CROSSING_RED].isdisjoint(ids_of[CROSSING_BLUE]) and -1 not in ids_of[CROSSING_RED]
    # people were looked for between keyframes (10 fps from the ring), not only at keyframes
    assert len(people.calls) >= 10 * 3
    assert {p["track_id"] for p in results[0].to_dict()["people"]} == set(
        results[0].detections.track_ids.tolist()
    )


def test_watch_track_writes_a_timeline(model_dir: Path, serve, tmp_path: Path, capsys) -> None:
    from cofin_sdk.cli.main import main
    from cofin_sdk.results import ActionTimeline

    url, _ = serve()
    timeline = tmp_path / "live_timeline.json"
    argv = ["watch", url, "--model", str(model_dir), "--drop", "none", "--box", "10,5,60,58"]
    argv += ["--track", "--timeline", str(timeline), "--timeline-threshold", "0", "--timeout", "5"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("1 people  #1 ") == 3 and f"wrote {timeline}" in printed
    segments = ActionTimeline.from_json(timeline)
    assert {(s.track_id, s.start_s) for s in segments} == {(1, 0.0)}  # threshold 0: always on


def test_tracking_behind_the_stream_does_not_catch_up(
    detector: Detector, crossing_clip: Path, serve
) -> None:
    """A slow backend with drop="latest" and tracking: keyframes are dropped, and the tracker
    looks at no more than one keyframe interval of frames per scored keyframe (it skips
    ahead rather than decoding the backlog), so latency stays near one inference."""
    url, _ = serve(clip=crossing_clip)
    slow = Detector(_Slow(detector.backend, 0.5), progress=False)
    people = ColourPeople(tolerance=60)
    with slow.stream(
        url, every=0.2, drop="latest", track=True, track_fps=10, person_detector=people,
        timeout_s=5,
    ) as live:  # fmt: skip
        results = list(live)
    assert sum(r.dropped for r in results) > 0
    assert len(people.calls) <= len(results) * (10 * 0.2 + 1)  # key frame + one interval each
    assert max(r.latency for r in results) < 0.5 * 3 + 0.5
    track_ids = np.concatenate([r.detections.track_ids for r in results])
    assert (track_ids > 0).mean() > 0.5  # people are still tracked between the drops
