"""Tests for cofin_sdk.io.video: sampling, decoding by time, rotation, writer, error table."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cofin_sdk.io.video import (
    VideoInfo,
    clip_frame_indices,
    iter_frames,
    probe,
    read_clip,
    read_frames_at,
    write_video,
)

FPS = 25
NUM = 50
W, H = 97, 61  # odd on purpose
LEVEL = 5  # frame i is grey level i * LEVEL


def grey(i: int, h: int = H, w: int = W) -> np.ndarray:
    return np.full((h, w, 3), i * LEVEL, np.uint8)


def frame_ids(frames: np.ndarray) -> list[int]:
    """Recover frame indices from grey levels (centre pixel, robust to codec error)."""
    frames = np.asarray(frames)
    centre = frames[..., frames.shape[-3] // 2, frames.shape[-2] // 2, :].astype(float)
    return np.rint(centre.mean(axis=-1) / LEVEL).astype(int).reshape(-1).tolist()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "grey.mp4"
    written = write_video(path, (grey(i) for i in range(NUM)), FPS, crf=0, gop_size=10)
    assert written == NUM
    return path


def write_raw(path: Path, pts_ms: list[int], *, rotation: int | None = None, gop: int = 5) -> Path:
    """Write grey frames with explicit millisecond timestamps (variable frame rate)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "0"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, pts in enumerate(pts_ms):
            rgb = grey(i, 32, 64)
            rgb[:, :8] = 255  # white strip on the LEFT to check rotation
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --------------------------------------------------------------------------- sampler


@pytest.mark.parametrize(
    ("center", "num_frames", "stride", "n", "expected"),
    [
        (10, 4, 2, 50, [6, 8, 10, 12]),
        (10, 5, 1, 50, [8, 9, 10, 11, 12]),
        (0, 4, 2, 50, [0, 0, 0, 2]),  # start: edge repeat
        (49, 4, 3, 50, [43, 46, 49, 49]),  # end: edge repeat
        (3, 1, 7, 50, [3]),
        (100, 3, 1, 5, [4, 4, 4]),  # centre beyond the end
        (-5, 2, 1, 5, [0, 0]),
    ],
)
def test_clip_frame_indices(center, num_frames, stride, n, expected) -> None:
    indices = clip_frame_indices(center, num_frames, stride, n)
    assert indices.dtype == np.int64
    assert indices.tolist() == expected


@pytest.mark.parametrize(("num_frames", "stride", "n"), [(0, 1, 5), (2, 0, 5), (2, 1, 0)])
def test_clip_frame_indices_rejects_non_positive(num_frames, stride, n) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        clip_frame_indices(0, num_frames, stride, n)


# --------------------------------------------------------------------------- probe / write


def test_probe_odd_size_is_padded_for_yuv420p(video: Path) -> None:
    info = probe(video)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height) == (W + 1, H + 1)
    assert info.fps == pytest.approx(FPS)
    assert info.num_frames == NUM
    assert info.duration == pytest.approx(NUM / FPS, abs=0.05)
    assert (info.rotation, info.codec, info.start_time) == (0, "h264", 0.0)
    assert info.name == str(video)


def test_write_yuv444p_keeps_odd_size(tmp_path: Path) -> None:
    frames = np.stack([grey(i) for i in range(5)])  # (T, H, W, 3) array input
    write_video(tmp_path / "odd.mp4", frames, 10, pix_fmt="yuv444p", crf=0)
    info = probe(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.num_frames) == (W, H, 5)
    assert frame_ids(read_clip(tmp_path / "odd.mp4", 0.2, 5, 1)) == [0, 1, 2, 3, 4]


def test_write_pads_by_replicating_the_edge(tmp_path: Path) -> None:
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[:, -1] = 255  # last column white -> padded column white too
    write_video(tmp_path / "pad.mp4", [rgb] * 3, 10, crf=0)
    out = read_clip(tmp_path / "pad.mp4", 0.0, 1, 1)[0]
    assert out.shape == (4, 6, 3)
    assert out[:, -1].min() > 200


def test_write_fractional_fps(tmp_path: Path) -> None:
    write_video(tmp_path / "ntsc.mp4", [grey(i, 16, 16) for i in range(30)], 29.97)
    assert probe(tmp_path / "ntsc.mp4").fps == pytest.approx(29.97, abs=1e-3)


@pytest.mark.parametrize(
    ("frames", "fps", "match"),
    [
        ([], 25, "no frames"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 25, "frame 1 has size"),
        ([np.zeros((8, 8, 3), np.float32)], 25, r"frame 0 must be a uint8 array \(H, W, 3\)"),
        ([np.zeros((8, 8), np.uint8)], 25, "frame 0 must be"),
        ([np.zeros((8, 8, 3), np.uint8)], 0, "fps must be a positive"),
        ([np.zeros((8, 8, 3), np.uint8)], float("nan"), "fps must be a positive"),
    ],
)
def test_write_video_errors(tmp_path: Path, frames, fps, match) -> None:
    with pytest.raises(ValueError, match=match):
        write_video(tmp_path / "bad.mp4", frames, fps)


# --------------------------------------------------------------------------- read_clip


@pytest.mark.parametrize(
    ("center_time", "num_frames", "stride", "expected"),
    [
        (1.0, 4, 1, [23, 24, 25, 26]),  # middle
        (1.0, 4, 3, [19, 22, 25, 28]),  # stride > 1
        (1.01, 3, 2, [23, 25, 27]),  # nearest frame to centre (25.25 -> 25)
        (1.03, 3, 2, [24, 26, 28]),  # 25.75 -> 26
        (0.0, 4, 2, [0, 0, 0, 2]),  # start: first frame repeated
        (0.04, 5, 1, [0, 0, 1, 2, 3]),
        (1.96, 4, 3, [43, 46, 49, 49]),  # end: last frame repeated
        (100.0, 2, 1, [48, 49]),  # beyond the end: centred on the last frame (keyframe_index)
        (-3.0, 2, 1, [0, 0]),
    ],
)
def test_read_clip_picks_the_right_frames(video, center_time, num_frames, stride, expected) -> None:
    clip = read_clip(video, center_time, num_frames, stride)
    assert clip.shape == (num_frames, H + 1, W + 1, 3)
    assert clip.dtype == np.uint8
    assert frame_ids(clip) == expected


def test_read_clip_matches_sampler_and_info(video: Path) -> None:
    info = probe(video)
    for center in (0, 7, 24, 48):
        expected = clip_frame_indices(center, 8, 2, NUM).tolist()
        assert frame_ids(read_clip(video, center / FPS, 8, 2, info=info)) == expected


def test_read_clip_single_keyframe_long_gop(tmp_path: Path) -> None:
    path = tmp_path / "gop.mp4"
    write_video(path, (grey(i, 16, 16) for i in range(NUM)), FPS, crf=0, gop_size=1000)
    assert frame_ids(read_clip(path, 1.8, 3, 2)) == [43, 45, 47]


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_file_object_source(video: Path, kind: str) -> None:
    data = video.read_bytes()
    with open(video, "rb") if kind == "file" else io.BytesIO(data) as handle:
        info = probe(handle)
        assert info.num_frames == NUM
        # Same handle reused: position is rewound before each open.
        assert frame_ids(read_clip(handle, 1.0, 3, 1, info=info)) == [24, 25, 26]
        assert frame_ids(read_frames_at(handle, [0.4])) == [10]
        assert not handle.closed


# --------------------------------------------------------------------------- VFR, rotation


VFR_PTS_MS = [0, 40, 120, 130, 200, 400, 440, 480, 700, 710]


def test_variable_frame_rate_maps_by_time(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "vfr.mp4", VFR_PTS_MS)
    times = [0.0, 0.041, 0.119, 0.3, 0.31, 0.42, 0.6, 0.71, 5.0]
    # Nearest timestamp: 0.3 is 0.1 from both 0.2 and 0.4 (tie -> earlier).
    assert frame_ids(read_frames_at(path, times)) == [0, 1, 2, 4, 5, 5, 8, 9, 9]
    assert [round(t, 3) for t, _ in iter_frames(path)] == [p / 1000 for p in VFR_PTS_MS]
    info = probe(path)
    assert info.num_frames == len(VFR_PTS_MS)
    # read_clip samples the nominal grid t = index / fps and takes the nearest frame.
    clip = read_clip(path, 0.4, 3, 1, info=info)
    grid = clip_frame_indices(round(0.4 * info.fps), 3, 1, info.num_frames) / info.fps
    nearest = [int(np.argmin(np.abs(np.array(VFR_PTS_MS) / 1000 - t))) for t in grid]
    assert frame_ids(clip) == nearest


@pytest.mark.parametrize(
    ("display_ccw", "rotation", "white_side"),
    [(90, 270, "bottom"), (-90, 90, "top"), (180, 180, "right"), (0, 0, "left")],
)
def test_rotation_metadata_is_applied(tmp_path, display_ccw, rotation, white_side) -> None:
    path = write_raw(tmp_path / "rot.mp4", [0, 40, 80], rotation=display_ccw)
    info = probe(path)
    assert info.rotation == rotation
    expected_size = (32, 64) if rotation in (90, 270) else (64, 32)
    assert (info.width, info.height) == expected_size
    frame = read_clip(path, 0.04, 1, 1, info=info)[0]
    assert frame.shape == (info.height, info.width, 3)
    strips = {"left": frame[:, :4], "right": frame[:, -4:], "top": frame[:4], "bottom": frame[-4:]}
    assert strips[white_side].min() > 200
    for side, pixels in strips.items():
        if side != white_side:
            assert pixels.mean() < 200  # strip appears only on one side
    assert next(iter_frames(path))[1].shape == frame.shape
    assert read_frames_at(path, [0.0]).shape[1:3] == frame.shape[:2]


# --------------------------------------------------------------------------- iter / batch


def test_iter_frames_all_and_window(video: Path) -> None:
    items = list(iter_frames(video))
    assert len(items) == NUM
    assert frame_ids(np.stack([f for _, f in items])) == list(range(NUM))
    assert [t for t, _ in items] == pytest.approx([i / FPS for i in range(NUM)])
    window = list(iter_frames(video, start=1.0, end=1.2))
    assert frame_ids(np.stack([f for _, f in window])) == [25, 26, 27, 28, 29]


def test_iter_frames_step(video: Path) -> None:
    items = list(iter_frames(video, start=0.41, step=0.4))  # 2.01 is past the last frame
    assert frame_ids(np.stack([f for _, f in items])) == [10, 20, 30, 40]
    assert items[1][0] == pytest.approx(20 / FPS)
    with pytest.raises(ValueError, match="step must be > 0"):
        list(iter_frames(video, step=0))


def test_read_frames_at_any_order_and_repeats(video: Path) -> None:
    times = [1.52, 0.2, 0.2, 10.0, -1.0, 0.04, 1.96]
    assert frame_ids(read_frames_at(video, times)) == [38, 5, 5, 49, 0, 1, 49]
    with pytest.raises(ValueError, match="times must be"):
        read_frames_at(video, [])


def test_read_frames_at_seeks_across_long_video(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    write_video(path, (grey(i % 50, 16, 16) for i in range(250)), 25, crf=0)  # 10 s, 1 s GOP
    times = [0.4, 9.0, 4.2, 4.24, 0.0]
    assert frame_ids(read_frames_at(path, times)) == [10, 225 % 50, 105 % 50, 106 % 50, 0]


# --------------------------------------------------------------------------- errors


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        samples = np.zeros((1, 1024), np.float32)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _make_bad(kind: str, tmp_path: Path, video: Path) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = video.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("this is not a video\n" * 20)
    elif kind == "audio":
        _audio_only(path)
    elif kind == "directory":
        path.mkdir()
    return path


BAD_FILES = [
    ("missing", FileNotFoundError, "not found"),
    ("empty", ValueError, "empty"),
    ("truncated", ValueError, "could not"),
    ("text", ValueError, "could not open"),
    ("audio", ValueError, "no video stream"),
    ("directory", ValueError, "directory"),
]
READERS = {
    "probe": probe,
    "read_clip": lambda p: read_clip(p, 0.0, 4, 2),
    "read_frames_at": lambda p: read_frames_at(p, [0.0]),
    "iter_frames": lambda p: list(iter_frames(p)),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(("kind", "error", "match"), BAD_FILES)
def test_bad_files_give_clear_errors(tmp_path, video, reader, kind, error, match) -> None:
    path = _make_bad(kind, tmp_path, video)
    with pytest.raises(error, match=match) as info:
        READERS[reader](path)
    assert path.name in str(info.value)  # the message names the file
    assert not isinstance(info.value, av.FFmpegError)


def test_truncated_file_with_index_first_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(NUM):
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(grey(i, 32, 32), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])  # index intact, tail of the data missing
    assert frame_ids(read_clip(path, 0.04, 3, 1)) == [0, 1, 2]  # the intact head still reads
    for reader in (
        lambda: read_clip(path, 1.9, 4, 1),
        lambda: read_frames_at(path, [0.0, 1.5]),
        lambda: list(iter_frames(path)),
        lambda: list(iter_frames(path, step=0.5)),
    ):
        with pytest.raises(ValueError, match="truncated") as info:
            reader()
        assert path.name in str(info.value)


def test_iter_frames_start_beyond_end_yields_nothing(video: Path) -> None:
    assert list(iter_frames(video, start=50.0)) == []


def test_bad_source_type() -> None:
    with pytest.raises(TypeError, match="path or a binary file object"):
        probe(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [b"garbage" * 100, b""])
def test_bad_file_object_gives_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="<file object>"):
        read_clip(io.BytesIO(data), 0.0, 2, 1)
