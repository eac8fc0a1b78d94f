"""One clip-time rule: the frames the Detector hands its backend are the frames that
``read_clip`` and the datasets' readers return, for every keyframe time of a video.

Each test video encodes its frame number in the pixels (flat grey levels, lossless
H.264), so a clip can be read back as the list of frame numbers it holds. Times sweep
the whole video in steps finer than a frame, including the first and the last half frame.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from cofin_sdk import Detector
from cofin_sdk.io.video import (
    clip_frame_indices,
    clip_indices_at,
    keyframe_index,
    probe,
    read_clip,
)
from cofin_sdk.models import HeadSpec
from cofin_sdk.preprocessing import Preprocessing, letterbox_frames, normalize, preprocess_clip
from training.data.ava import FrameFolder, read_frame_folder_clip
from training.data.classification import VideoClassificationDataset

SIZE = 32
PREP = Preprocessing(image_size=SIZE, num_frames=4, frame_stride=2, mean=(0, 0, 0), std=(1, 1, 1))
GREY0, GREY_STEP = 20, 4  # frame i is flat grey GREY0 + GREY_STEP * i


def _write(path: Path, pts: list[int], time_base: Fraction, rate: Fraction) -> Path:
    """Lossless H.264 whose frame ``i`` (presentation time ``pts[i] * time_base``) is grey ``i``."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv444p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"qp": "0", "preset": "veryfast", "g": "8", "bf": "0"}
        for i, stamp in enumerate(pts):
            image = np.full((SIZE, SIZE, 3), GREY0 + GREY_STEP * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


VIDEOS = {
    # name: (pts, time_base, nominal rate)
    "10fps": (list(range(30)), Fraction(1, 10), Fraction(10)),
    "ntsc": (list(range(45)), Fraction(1001, 30000), Fraction(30000, 1001)),
    "start_not_0": ([i + 7 for i in range(40)], Fraction(1, 25), Fraction(25)),
    "vfr": (
        [0, 1, 3, 4, 7, 8, 9, 12, 13, 15, 18, 19, 20, 23, 26, 27],
        Fraction(1, 30),
        Fraction(20),
    ),
}


@pytest.fixture(scope="module", params=sorted(VIDEOS))
def video(request, tmp_path_factory) -> tuple[str, Path]:
    pts, time_base, rate = VIDEOS[request.param]
    path = tmp_path_factory.mktemp("clip_rule") / f"{request.param}.mp4"
    return request.param, _write(path, pts, time_base, rate)


def _frame_numbers(clip: np.ndarray) -> list[int]:
    """Frame numbers held by a ``(T, H, W, 3)`` clip of a test video."""
    grey = clip.reshape(len(clip), -1).mean(axis=1)
    return np.rint((grey - GREY0) / GREY_STEP).astype(int).tolist()


class RecordingBackend:
    """A real backend (numpy) that remembers the clips it is handed and scores nothing."""

    name = "recording"
    preprocessing = PREP
    heads = {"ava": HeadSpec("detection", 2), "k": HeadSpec("classification", 3)}

    def __init__(self, preprocessing: Preprocessing = PREP) -> None:
        self.clips: list[np.ndarray] = []
        self.preprocessing = preprocessing

    def features(self, frames: np.ndarray) -> np.ndarray:
        self.clips += list(frames)
        return np.zeros((len(frames), 1, 1, 1), np.float32)

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        if boxes is None:
            return np.full((len(features), 3), 1 / 3, np.float32)
        return np.zeros((*boxes.shape[:2], 2), np.float32)


def _sweep_times(info) -> np.ndarray:
    period = 1.0 / info.fps
    last = (info.num_frames - 1) * period
    fine = np.arange(0.0, last + 0.5 * period, period / 3.7)  # not a divisor of the period
    edges = [0.0, 0.49 * period, 0.5 * period, 0.51 * period, last - 0.5 * period, last]
    return np.unique(np.concatenate([fine, edges, [last + 0.49 * period]]))


@pytest.mark.parametrize("placement", ["centre", "causal"])
def test_detector_backend_sees_read_clip_frames(video, placement):
    name, path = video
    info = probe(path)
    times = _sweep_times(info)
    backend = RecordingBackend(dataclasses.replace(PREP, keyframe=placement))
    detector = Detector(backend, batch_size=5, progress=False)
    detector.detect(path, timestamps=times, boxes=[[0, 0, 8, 8]])
    assert len(backend.clips) == len(times)
    for time, seen in zip(times, backend.clips, strict=True):
        frames = read_clip(path, time, PREP.num_frames, PREP.frame_stride, placement=placement)
        expected, _ = letterbox_frames(frames, SIZE)
        np.testing.assert_array_equal(seen, expected, err_msg=f"{name} t={time}")
        # ... and once normalised (inside the graph) it is exactly training's input.
        trained, _ = preprocess_clip(frames, PREP)
        inside = normalize(torch.from_numpy(seen).permute(3, 0, 1, 2), PREP.mean, PREP.std)
        torch.testing.assert_close(inside, trained, rtol=0, atol=0)


@pytest.mark.parametrize("placement", ["centre", "causal"])
def test_read_clip_follows_the_rule(video, placement):
    """Constant-rate videos: the clip holds exactly the rule's frames; VFR: the frames
    nearest the rule's nominal-grid times. Causal clips end at the keyframe."""
    name, path = video
    info = probe(path)
    pts, time_base, _ = VIDEOS[name]
    stamps = (np.array(pts) - pts[0]) * float(time_base)  # presentation times from the start
    for time in _sweep_times(info):
        clip = read_clip(path, time, PREP.num_frames, PREP.frame_stride, placement=placement)
        got = _frame_numbers(clip)
        indices = clip_indices_at(
            time, info.fps, info.num_frames, PREP.num_frames, PREP.frame_stride, placement
        )
        key = keyframe_index(time, info.fps, info.num_frames)
        if placement == "causal":  # nothing after the keyframe
            assert indices[-1] == key and (np.diff(indices) >= 0).all()
        else:
            assert indices[PREP.num_frames // 2] == key
        targets = indices / info.fps
        # Nearest decoded frame to each nominal time (ties: the earlier frame).
        want = [int(np.argmin(np.abs(stamps - t) + 1e-9 * (stamps > t))) for t in targets]
        assert got == want, f"{name} t={time}: {got} != {want}"
        if name != "vfr":
            assert want == indices.tolist()


def test_frame_folder_and_classification_datasets_use_the_rule(video, tmp_path):
    name, path = video
    if name == "vfr":
        pytest.skip("frame folders are constant-rate by construction")
    info = probe(path)
    folder = tmp_path / "frames" / name
    folder.mkdir(parents=True)
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            cv2.imwrite(str(folder / f"{name}_{i + 1:06d}.jpg"), image[:, :, ::-1])  # 1-based
    source = FrameFolder(folder, fps=info.fps)
    for time in _sweep_times(info):
        from_folder = _frame_numbers(
            read_frame_folder_clip(source, time, PREP.num_frames, PREP.frame_stride)
        )
        from_video = _frame_numbers(read_clip(path, time, PREP.num_frames, PREP.frame_stride))
        assert from_folder == from_video, f"{name} t={time}"
    # Classification: the dataset's single evaluation view is Detector.classify's clip.
    dataset = VideoClassificationDataset([path], [0], ["a"], PREP, train=False)
    backend = RecordingBackend()
    Detector(backend, progress=False).classify(path, head="k")
    expected, _ = letterbox_frames(dataset.read_frames(0), SIZE)
    np.testing.assert_array_equal(backend.clips[0], expected)


@pytest.mark.parametrize(
    ("time", "fps", "frames", "index"),
    [
        (0.0, 25, 50, 0),
        (0.0199, 25, 50, 0),
        (0.02, 25, 50, 1),  # a tie goes to the later frame
        (1.96, 25, 50, 49),
        (5.0, 25, 50, 49),  # past the end: the last frame
        (-0.3, 25, 50, 0),
        (2.0, 30000 / 1001, 300, 60),
        (33.4, 30000 / 1001, 3000, 1001),
    ],
)
def test_keyframe_index_table(time, fps, frames, index):
    assert keyframe_index(time, fps, frames) == index


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_keyframe_index_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        keyframe_index(bad, 25, 10)


@pytest.mark.parametrize(
    ("key", "placement", "indices"),
    [
        (5, "centre", [1, 3, 5, 7]),
        (5, "causal", [0, 1, 3, 5]),  # the clip ends at the keyframe; clamped at the start
        (9, "causal", [3, 5, 7, 9]),
    ],
)
def test_clip_frame_indices_placement_table(key, placement, indices):
    assert clip_frame_indices(key, 4, 2, 10, placement).tolist() == indices


@pytest.mark.parametrize("bad", ["center", "end", None])
def test_unknown_placement_is_one_line_error(bad):
    with pytest.raises(ValueError, match="choose 'centre' or 'causal'"):
        clip_frame_indices(5, 4, 2, 10, bad)
    with pytest.raises(ValueError, match="Preprocessing.keyframe="):
        Preprocessing(keyframe=bad)
