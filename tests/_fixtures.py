"""Builders shared by the tests (importable as ``_fixtures``: pytest's ``pythonpath``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The heads of the tiny model the Triton tests and the client set serve.
SERVED_HEADS: dict[str, Any] = {
    "ava": {
        "task": "detection",
        "num_classes": 5,
        "class_names": ["stand", "sit", "walk", "run", "wave"],
    },
    "kinetics": {"task": "classification", "num_classes": 4},
    "ssv2": {"task": "classification", "num_classes": 3},
}


def tiny_model(
    heads: dict[str, Any],
    *,
    num_frames: int = 4,
    image_size: int = 32,
    seed: int = 0,
    **overrides: Any,
):
    """A seeded random ``vivit_ti16_fe`` with 1 spatial + 1 temporal block (CPU-test size)."""
    import torch

    from cofin_sdk.models import create_model

    torch.manual_seed(seed)
    return create_model(
        "vivit_ti16_fe",
        spatial_depth=1,
        temporal_depth=1,
        num_frames=num_frames,
        image_size=image_size,
        heads=heads,
        **overrides,
    )


def tiny_train_config(synth_root: Path, out_dir: Path, heads=("ava", "kinetics"), **overrides: Any):
    """``synthetic_tiny`` on the session's synthetic data, shrunk to 1+1 layers, 64 px, 4 frames,
    global batch 4, no workers, no logging; ``overrides`` are ``--set`` keys and values."""
    from training.configs.base import apply_overrides, load_config

    cfg = load_config("synthetic_tiny")[0]
    cfg.datasets = [d for d in cfg.datasets if d.name in heads]
    for d in cfg.datasets:
        d.root = str(synth_root / d.kind)
    cfg.run.synth_preset = None
    cfg.model.overrides = {"spatial_depth": 1, "temporal_depth": 1, "drop_path_rate": 0.0}
    sets = {
        "run.image_size": 64,
        "run.num_frames": 4,
        "run.global_batch_size": 4,
        "run.num_workers": 0,
        "run.progress": False,
        "run.tensorboard": False,
        "run.out_dir": str(out_dir),
        "eval.at_end": False,
        **overrides,
    }
    return apply_overrides(cfg, [f"{k}={v}" for k, v in sets.items()])


def build_served_model(
    root: Path,
    heads: dict[str, Any],
    *,
    num_frames: int = 4,
    image_size: int = 32,
    int8: bool = False,
) -> dict[str, Path]:
    """``{"model", "export", "repo"}`` under ``root``: a :func:`tiny_model` saved with
    ``save_pretrained``, its ONNX export, and the repository ``cofin serve build --platform
    python`` writes for it (through the CLI). Needs torch, onnx and the serving package."""
    from cofin_sdk.cli.main import main
    from cofin_sdk.export import export

    paths = {"model": root / "model", "export": root / "export", "repo": root / "repo"}
    model = tiny_model(heads, num_frames=num_frames, image_size=image_size)
    model.save_pretrained(paths["model"])
    export(paths["model"], paths["export"], int8_dynamic=int8, progress=False)
    command = ["serve", "build", str(paths["export"]), "--out", str(paths["repo"])]
    assert main([*command, "--platform", "python"]) == 0
    return paths


def moving_block_frames(num: int, height: int, width: int, seed: int = 0):
    """``uint8 (num, height, width, 3)``: a moving bright block on noise, so every frame
    differs and a clip sampler's (or a stream's) frame mix-up shows in the scores."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, (num, height, width, 3), dtype=np.uint8)
    for t in range(num):
        x = (3 * t) % max(1, width - 12)
        frames[t, height // 4 : height // 4 + 20, x : x + 12] = (230, 120 + 4 * t % 100, 40)
    return frames


# -- two people crossing (tracking tests: files, arrays and streams) --
CROSSING_RED, CROSSING_BLUE = (220, 30, 30), (30, 30, 220)


def crossing_positions(t: float, speed: float = 70.0) -> dict[tuple[int, int, int], float]:
    """Left edges: red walks right from x=0, blue walks left from x=280; they cross at 2 s."""
    return {CROSSING_RED: speed * t, CROSSING_BLUE: 280 - speed * t}


def crossing_frames(fps: int = 25, seconds: int = 4, height: int = 160, width: int = 320):
    """``uint8 (fps * seconds, H, W, 3)``: two 40-px wide people crossing on a grey wall."""
    import numpy as np

    frames = np.full((fps * seconds, height, width, 3), 128, np.uint8)
    for n in range(len(frames)):
        for colour, x in crossing_positions(n / fps).items():  # blue drawn last: in front
            frames[n, 30:140, int(x) : int(x) + 40] = colour
    return frames


class ColourPeople:
    """A person detector finding the red and blue people (in random order, no ids).

    ``tolerance``: largest per-channel difference from the colour (0 for exact arrays,
    ~50 for video that went through a lossy codec).
    """

    name = "colour"

    def __init__(self, tolerance: int = 0) -> None:
        import numpy as np

        self.rng = np.random.default_rng(0)
        self.tolerance = tolerance
        self.calls: list[float] = []

    def __call__(self, frame, timestamp=None):
        import numpy as np

        self.calls.append(timestamp)
        boxes = []
        for colour in (CROSSING_RED, CROSSING_BLUE):
            close = np.abs(frame.astype(np.int16) - np.array(colour)) <= self.tolerance
            ys, xs = np.nonzero(close.all(axis=-1))
            if len(xs) > 50:
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        order = self.rng.permutation(len(boxes))
        return np.array(boxes, np.float32)[order].reshape(-1, 4), np.full(
            len(boxes), 0.9, np.float32
        )
