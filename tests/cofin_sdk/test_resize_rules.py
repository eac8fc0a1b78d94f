"""The resize rules a model record names (``Preprocessing.resize``): the torch-free default,
the legacy torch rule older records keep, and every path following the record."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cofin_sdk.io.clips import iter_clips
from cofin_sdk.io.sources import ArrayVideo
from cofin_sdk.preprocessing import (
    DEFAULT_RESIZE,
    LEGACY_RESIZE,
    Preprocessing,
    letterbox_array,
    letterbox_frames,
    preprocess_clip,
)


def _scene(t: int = 2, h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """Smooth gradients, sharp-edged blocks and noise: what a decoded frame looks like."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    blocks = np.kron(rng.integers(0, 2, (h // 16, w // 16, 1)) * 80, np.ones((16, 16, 1)))
    frame = base + blocks + rng.normal(0, 4, (h, w, 3))
    return np.clip(np.stack([np.roll(frame, 3 * i, 1) for i in range(t)]), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the record
def test_new_records_name_the_torch_free_rule_and_old_ones_keep_theirs() -> None:
    new = Preprocessing(image_size=64, num_frames=8)
    assert new.resize == DEFAULT_RESIZE == "cv2_area"
    assert new.to_dict()["resize"] == "cv2_area"
    assert Preprocessing.from_dict(new.to_dict()) == new
    old = {k: v for k, v in new.to_dict().items() if k != "resize"}  # written before the field
    assert Preprocessing.from_dict(old).resize == LEGACY_RESIZE == "torch_bilinear_antialias"
    with pytest.raises(ValueError, match=r"resize must be one of \['cv2_area'"):
        Preprocessing(resize="lanczos")
    with pytest.raises(ValueError, match="resize='nope': choose one of"):
        letterbox_array(_scene(), 64, resize="nope")


# --------------------------------------------------------------------------- the new rule
def test_cv2_area_is_antialiased_when_shrinking() -> None:
    checker = (np.indices((256, 256)).sum(0) % 2 * 255).astype(np.uint8)  # 1-px checkerboard
    frames = np.repeat(checker[None, :, :, None], 3, -1)
    out, _ = letterbox_frames(frames, 64)  # 4x down: each output pixel averages 16 inputs
    assert abs(out.astype(float).mean() - 127.5) < 1 and out.std() < 1  # grey, no aliasing


def test_cv2_area_interpolates_when_enlarging() -> None:
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    frames[:, :, 4:] = 255  # a vertical edge
    out, letterbox = letterbox_frames(frames, 64)  # 8x up
    assert letterbox.resized_size == (64, 64)
    row = out[0, 32, :, 0]
    assert len(np.unique(row[(row > 0) & (row < 255)])) >= 4  # a ramp, not nearest blocks


def test_rules_share_the_geometry_and_differ_by_a_few_levels() -> None:
    pytest.importorskip("torch")
    frames = _scene()
    new, lb_new = letterbox_frames(frames, 224)
    old, lb_old = letterbox_frames(frames, 224, resize=LEGACY_RESIZE)
    assert lb_new == lb_old and new.shape == old.shape == (2, 224, 224, 3)
    rw, rh = lb_new.resized_size
    assert not new[:, rh:].any() and not new[:, :, rw:].any()  # pixel-black padding, both
    diff = np.abs(new.astype(int) - old.astype(int))
    assert diff.any()  # really two rules
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 12


def test_same_size_is_copied_by_both_rules() -> None:
    frames = _scene(h=96, w=128)
    for rule in (DEFAULT_RESIZE, LEGACY_RESIZE):
        if rule == LEGACY_RESIZE:
            pytest.importorskip("torch")
        out, letterbox = letterbox_array(frames, 128, resize=rule)
        assert letterbox.scale == 1.0 and np.array_equal(out[:, :96], frames)


# --------------------------------------------------------------------------- every path
def test_training_and_the_detector_follow_the_record() -> None:
    pytest.importorskip("torch")
    frames = _scene(t=4)
    for rule in (DEFAULT_RESIZE, LEGACY_RESIZE):
        prep = Preprocessing(image_size=64, num_frames=4, frame_stride=1, resize=rule)
        expected, _ = letterbox_frames(frames, 64, resize=rule)
        trained, _ = preprocess_clip(frames, prep)  # (3, T, S, S) normalised
        pixels = trained.permute(1, 2, 3, 0).numpy() * 127.5 + 127.5
        np.testing.assert_allclose(pixels, expected, atol=1e-3)
        (clip,) = iter_clips(ArrayVideo(frames, 25.0), np.array([0.08]), prep, 1)
        np.testing.assert_array_equal(clip.frames, expected)


def test_the_new_rule_needs_no_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from cofin_sdk.preprocessing import letterbox_frames\n"
        "out, lb = letterbox_frames(np.zeros((2, 48, 64, 3), np.uint8), 32)\n"
        "print(out.shape, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 32, 32, 3) False"


def test_the_legacy_rule_without_torch_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(
        ImportError, match=r'resize="torch_bilinear_antialias".*"cofin-sdk\[torch\]"'
    ):
        letterbox_frames(_scene(), 64, resize=LEGACY_RESIZE)
