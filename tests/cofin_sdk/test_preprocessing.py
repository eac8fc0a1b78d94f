"""Tests for cofin_sdk.preprocessing: config, letterbox geometry, box mapping, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cofin_sdk.preprocessing import (
    Letterbox,
    Preprocessing,
    letterbox_clip,
    normalize,
    preprocess_clip,
)

SIZES = [(97, 61), (61, 97), (320, 240), (240, 320), (224, 224), (5, 300), (1000, 7)]


# --------------------------------------------------------------------------- config


def test_preprocessing_defaults_and_json_round_trip() -> None:
    prep = Preprocessing()
    assert (prep.image_size, prep.num_frames, prep.frame_stride) == (224, 32, 2)
    assert prep.mean == prep.std == (0.5, 0.5, 0.5)
    data = json.loads(json.dumps(prep.to_dict()))
    assert Preprocessing.from_dict(data) == prep
    custom = Preprocessing(160, 8, 4, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert Preprocessing.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 0}, "image_size must be an int >= 1"),
        ({"num_frames": 2.5}, "num_frames must be an int"),
        ({"frame_stride": True}, "frame_stride must be an int"),
        ({"mean": (0.5, 0.5)}, "mean must be 3 finite floats"),
        ({"std": (0.5, 0.0, 0.5)}, "std must be > 0"),
        ({"std": (0.5, float("nan"), 0.5)}, "std must be 3 finite"),
    ],
)
def test_preprocessing_validation(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        Preprocessing(**kwargs)


def test_preprocessing_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown preprocessing keys \['imagesize'\]"):
        Preprocessing.from_dict({"imagesize": 224})


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(("w", "h"), SIZES)
def test_letterbox_fit_longer_side(w: int, h: int) -> None:
    lb = Letterbox.fit(w, h, 224)
    rw, rh = lb.resized_size
    assert max(rw, rh) == 224
    assert lb.image_size == 224
    assert abs(rw / rh - w / h) <= max(w / h, h / w) / min(rw, rh) + 1e-9  # aspect kept
    full = lb.norm_to_input(np.array([[0.0, 0.0, 1.0, 1.0]]))
    np.testing.assert_allclose(full, [[0, 0, rw, rh]], atol=1e-9)


@pytest.mark.parametrize(("w", "h"), SIZES)
@pytest.mark.parametrize("scale_factor", [1.0, 0.75, 1.5])
def test_box_round_trips(w: int, h: int, scale_factor: float) -> None:
    lb = Letterbox.fit(w, h, 224, scale_factor=scale_factor)
    rng = np.random.default_rng(0)
    xy = np.sort(rng.uniform(0, 1, size=(20, 2, 2)), axis=1)  # (N, lo/hi, x/y)
    norm = np.concatenate([xy[:, 0], xy[:, 1]], axis=1)  # (N, 4) x1,y1,x2,y2
    np.testing.assert_allclose(lb.input_to_norm(lb.norm_to_input(norm)), norm, atol=1e-12)
    pixels = lb.norm_to_pixels(norm)
    np.testing.assert_allclose(pixels / [w, h, w, h], norm, atol=1e-12)
    np.testing.assert_allclose(lb.input_to_pixels(lb.pixels_to_input(pixels)), pixels, atol=1e-9)
    np.testing.assert_allclose(lb.pixels_to_norm(pixels), norm, atol=1e-12)
    np.testing.assert_allclose(lb.norm_to_input(norm), lb.pixels_to_input(pixels), atol=1e-9)
    cropped = lb.crop(3.0, 5.0, 200)
    np.testing.assert_allclose(
        cropped.norm_to_input(norm), lb.norm_to_input(norm) - [3, 5, 3, 5], atol=1e-9
    )
    np.testing.assert_allclose(cropped.input_to_norm(cropped.norm_to_input(norm)), norm, atol=1e-12)


def test_mapping_keeps_float32_and_accepts_tensors() -> None:
    lb = Letterbox.fit(320, 240, 224)
    boxes = np.array([[32, 24, 64, 48]], np.float32)
    assert lb.pixels_to_input(boxes).dtype == np.float32
    from_tensor = lb.pixels_to_input(torch.from_numpy(boxes))
    np.testing.assert_allclose(from_tensor, [[22.4, 16.8, 44.8, 33.6]], rtol=1e-6)
    assert lb.pixels_to_input(np.array([[1, 2, 3, 4]])).dtype == np.float64  # ints -> float
    assert lb.norm_to_input(np.zeros((0, 4))).shape == (0, 4)


# --------------------------------------------------------------------------- pixels


def _frames_with_rectangle(w: int, h: int, box: tuple[int, int, int, int], t: int = 3):
    frames = np.full((t, h, w, 3), 40, np.uint8)  # dark grey, not black, to see the padding
    x1, y1, x2, y2 = box
    frames[:, y1:y2, x1:x2] = 255
    return frames


@pytest.mark.parametrize(
    ("w", "h", "box"),
    [(97, 61, (20, 10, 60, 45)), (61, 97, (5, 30, 40, 90)), (320, 240, (100, 50, 250, 200))],
)
@pytest.mark.parametrize("scale_factor", [1.0, 0.6])
def test_white_rectangle_lands_on_mapped_box(w, h, box, scale_factor) -> None:
    frames = _frames_with_rectangle(w, h, box)
    clip, lb = letterbox_clip(frames, 224, scale_factor=scale_factor)
    assert clip.shape == (3, 3, 224, 224) and clip.dtype == torch.uint8  # uint8 in, uint8 out
    image = clip[:, 1].permute(1, 2, 0).numpy().astype(float)  # (S, S, 3)
    norm_box = np.array([box], float) / [w, h, w, h]
    x1, y1, x2, y2 = lb.norm_to_input(norm_box)[0]
    margin = 2.0  # bilinear + antialias blur
    inside = image[
        int(np.ceil(y1 + margin)) : int(y2 - margin), int(np.ceil(x1 + margin)) : int(x2 - margin)
    ]
    assert inside.size and inside.min() > 250
    ys, xs = np.nonzero(image.min(axis=-1) > 128)  # white pixels
    assert xs.min() >= x1 - margin and xs.max() <= x2 + margin
    assert ys.min() >= y1 - margin and ys.max() <= y2 + margin
    rw, rh = lb.resized_size
    assert (image[rh:] == 0).all() and (image[:, rw:] == 0).all()  # pixel-black padding
    assert image[: rh - 2, : rw - 2].min() >= 39  # content keeps its colour up to the edge


def test_scale_factor_above_one_gives_larger_canvas_for_crop() -> None:
    frames = _frames_with_rectangle(320, 240, (100, 50, 250, 200), t=2)
    clip, lb = letterbox_clip(frames, 224, scale_factor=1.5)
    assert lb.image_size == 336 and lb.resized_size == (336, 252)
    assert clip.shape == (3, 2, 336, 336)
    x0, y0 = 50, 20
    cropped, crop_lb = clip[:, :, y0 : y0 + 224, x0 : x0 + 224], lb.crop(x0, y0, 224)
    x1, y1, x2, y2 = crop_lb.pixels_to_input(np.array([[100.0, 50, 250, 200]]))[0]
    assert cropped[:, 0, int(y1) + 3 : int(y2) - 3, int(x1) + 3 : min(224, int(x2) - 3)].min() > 250


def test_dtypes_and_torch_input_match_numpy() -> None:
    frames = np.random.default_rng(1).integers(0, 256, size=(4, 61, 97, 3), dtype=np.uint8)
    as_uint8, lb = letterbox_clip(frames, 64)
    as_float, _ = letterbox_clip(frames, 64, out_dtype=torch.float32)
    from_float, _ = letterbox_clip(frames.astype(np.float32), 64)  # resized in float
    from_torch, lb_torch = letterbox_clip(torch.from_numpy(frames), 64)
    assert as_uint8.dtype == torch.uint8 and lb_torch == lb
    assert as_float.dtype == from_float.dtype == torch.float32
    torch.testing.assert_close(as_float, as_uint8.float())
    assert (from_float - as_uint8.float()).abs().max() <= 1  # uint8 resize rounds
    rounded, _ = letterbox_clip(frames.astype(np.float32), 64, out_dtype=torch.uint8)
    assert (rounded.int() - as_uint8.int()).abs().max() <= 1
    torch.testing.assert_close(from_torch, as_uint8)
    torch.testing.assert_close(
        torch.from_numpy(frames).float().mean(), as_uint8[:, :, :40].float().mean(), atol=2, rtol=0
    )


def test_same_size_is_not_resampled() -> None:
    frames = np.random.default_rng(2).integers(0, 256, size=(2, 32, 48, 3), dtype=np.uint8)
    clip, lb = letterbox_clip(frames, 48)
    assert lb.scale == 1.0
    assert torch.equal(clip[:, :, :32], torch.from_numpy(frames).permute(3, 0, 1, 2))


def test_normalize_and_preprocess_clip() -> None:
    prep = Preprocessing(image_size=32, num_frames=2, mean=(0.5, 0.4, 0.3), std=(0.5, 0.2, 0.1))
    frames = np.full((2, 16, 32, 3), 255, np.uint8)
    clip, lb = preprocess_clip(frames, prep)
    assert clip.shape == (3, 2, 32, 32) and clip.dtype == torch.float32
    expected_content = [(1 - m) / s for m, s in zip(prep.mean, prep.std, strict=True)]
    expected_pad = [(0 - m) / s for m, s in zip(prep.mean, prep.std, strict=True)]
    for c in range(3):
        torch.testing.assert_close(clip[c, :, :16], torch.full((2, 16, 32), expected_content[c]))
        torch.testing.assert_close(clip[c, :, 16:], torch.full((2, 16, 32), expected_pad[c]))
    assert lb.resized_size == (32, 16)
    uint8 = torch.full((3, 1, 2, 2), 128, dtype=torch.uint8)
    torch.testing.assert_close(
        normalize(uint8, (0.5,) * 3, (0.5,) * 3), torch.full((3, 1, 2, 2), 128 / 127.5 - 1)
    )
    with pytest.raises(ValueError, match=r"clip must be Tensor\[3, T, H, W\]"):
        normalize(torch.zeros(2, 3, 4, 4), (0.5,) * 3, (0.5,) * 3)


# --------------------------------------------------------------------------- validation


LB = Letterbox.fit(97, 61, 224)


@pytest.mark.parametrize(
    ("method", "boxes", "match"),
    [
        ("norm_to_input", [[0.1, 0.2, 0.3, 0.4]], None),
        ("norm_to_input", [[0.0, 0.0, 1.005, 1.0]], None),  # within tolerance
        ("norm_to_input", torch.tensor([[0.1, 0.2, 0.3, 0.4]]), None),
        ("norm_to_input", np.zeros((0, 4)), None),
        ("pixels_to_input", [[-3, -2, 120, 80]], None),  # pixel boxes may leave the frame
        ("input_to_norm", [[1.0, 2.0, 3.0, 4.0]], None),
        (
            "norm_to_input",
            [0.1, 0.2, 0.3, 0.4],
            r"shape \[N, 4\] \(x1, y1, x2, y2\), got shape \(4,\)",
        ),
        ("norm_to_input", np.zeros((2, 5)), r"got shape \(2, 5\)"),
        ("pixels_to_input", np.zeros((1, 4, 1)), r"got shape \(1, 4, 1\)"),
        ("pixels_to_input", [["a", "b", "c", "d"]], "must be numbers"),
        (
            "norm_to_input",
            [[0.1, 0.2, 0.3, 0.4], [0, 0, float("nan"), 1]],
            "box 1 .*must be finite",
        ),
        (
            "pixels_to_input",
            [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [5, 0, 4, 1]],
            "box 3 .*x1 <= x2",
        ),
        ("input_to_pixels", [[0, 5, 1, 4]], "box 0 .*y1 <= y2"),
        ("norm_to_input", [[10, 20, 50, 40]], r"must lie in \[0, 1\].*pass pixel boxes"),
        ("norm_to_pixels", [[-0.1, 0.0, 0.5, 0.5]], r"box 0 .*must lie in \[0, 1\]"),
    ],
)
def test_box_validation_table(method, boxes, match) -> None:
    if match is None:
        out = getattr(LB, method)(boxes)
        assert isinstance(out, np.ndarray) and out.shape == (len(boxes), 4)
        assert np.issubdtype(out.dtype, np.floating)
        inverse = {"norm_to_input": "input_to_norm", "pixels_to_input": "input_to_pixels"}
        back = getattr(LB, inverse.get(method, "norm_to_input" if "norm" in method else method))
        if method in inverse:  # the mapping is affine and invertible: round trip
            np.testing.assert_allclose(back(out), np.asarray(boxes, np.float64), atol=1e-5)
    else:
        with pytest.raises(ValueError, match=match):
            getattr(LB, method)(boxes)


@pytest.mark.parametrize(
    ("frames", "error", "match"),
    [
        ([[1, 2, 3]], TypeError, "numpy array or Tensor"),
        (np.zeros((4, 4, 3), np.uint8), ValueError, r"\(T, H, W, 3\).*got shape \(4, 4, 3\)"),
        (np.zeros((1, 4, 4, 4), np.uint8), ValueError, "got shape"),
        (np.zeros((0, 4, 4, 3), np.uint8), ValueError, "T, H, W >= 1"),
        (np.zeros((1, 4, 4, 3), np.int32), ValueError, "must be uint8"),
    ],
)
def test_letterbox_clip_validation(frames, error, match) -> None:
    with pytest.raises(error, match=match):
        letterbox_clip(frames, 32)


def test_letterbox_rejects_invalid_geometry() -> None:
    with pytest.raises(ValueError, match="invalid Letterbox"):
        Letterbox(0, 10, 224, 1.0)
