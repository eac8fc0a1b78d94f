"""The inference split: ``head(name, features(frames), boxes)`` equals the training
interface ``model(video, head=..., boxes=...)`` for every head (DESIGN.md, "Inference graph")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cofin_sdk import create_model
from cofin_sdk.preprocessing import Preprocessing, normalize

SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = create_model(
        "vivit_ti16_fe",
        spatial_depth=2,
        temporal_depth=1,
        num_frames=FRAMES,
        image_size=SIZE,
        heads={
            "ava": {"task": "detection", "num_classes": 5},
            "k400": {"task": "classification", "num_classes": 7},
            "ssv2": {"task": "classification", "num_classes": 3},
        },
    )
    model.preprocessing = Preprocessing(
        image_size=SIZE, num_frames=FRAMES, mean=(0.4, 0.45, 0.5), std=(0.2, 0.25, 0.3)
    )
    return model.eval()


def _frames(batch: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (batch, FRAMES, SIZE, SIZE, 3), dtype=np.uint8))


def _normalised(frames: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """The training path: each clip normalised by preprocessing.normalize."""
    clips = [normalize(clip.permute(3, 0, 1, 2), prep.mean, prep.std) for clip in frames]
    return torch.stack(clips)  # (B, 3, T, S, S)


@pytest.mark.parametrize("batch", [1, 3])
def test_features_then_heads_equal_the_training_forward(model, batch):
    frames = _frames(batch, seed=batch)
    video = _normalised(frames, model.preprocessing)
    with torch.no_grad():
        features = model.features(frames)
        assert features.shape == (batch, 192, SIZE // 16, SIZE // 16)
        assert features.dtype == torch.float32
        for name in ("k400", "ssv2"):
            expected = torch.softmax(model(video, head=name), dim=-1)
            torch.testing.assert_close(model.head(name, features), expected, rtol=0, atol=1e-6)
        rng = np.random.default_rng(batch)
        n = 5
        xy = rng.uniform(0, SIZE / 2, (batch, n, 2))
        boxes = torch.from_numpy(
            np.concatenate([xy, xy + rng.uniform(1, SIZE / 2, (batch, n, 2))], -1)
        ).float()
        rows = torch.cat(
            [torch.arange(batch).repeat_interleave(n)[:, None].float(), boxes.reshape(-1, 4)], 1
        )
        expected = torch.sigmoid(model(video, head="ava", boxes=rows)).reshape(batch, n, 5)
        got = model.head("ava", features, boxes)
        assert got.shape == (batch, n, 5)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_features_normalise_with_the_record(model):
    """The graph's mean/std come from the model record: other values give other features."""
    frames = _frames(2, seed=7)
    with torch.no_grad():
        a = model.features(frames)
        original = model.preprocessing
        model.preprocessing = Preprocessing(image_size=SIZE, num_frames=FRAMES)
        try:
            b = model.features(frames)
        finally:
            model.preprocessing = original
    assert not torch.allclose(a, b, atol=1e-3)
