"""Shared fixtures of the Triton tests: one tiny model, its export and a Python-backend
repository (built once per test run, shared by xdist workers through a file lock), and a
real ``tritonserver`` on free loopback ports (one per worker)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _fixtures import SERVED_HEADS, build_served_model

from serving.server import TritonServer, TritonStartError, find_tritonserver, free_port

HEADS = SERVED_HEADS
SIZE, FRAMES = 32, 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.triton)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"model", "export", "repo"}``: a tiny saved model, its ONNX export, and the
    repository ``cofin serve build --platform python`` writes for it (through the CLI)."""
    pytest.importorskip("tritonclient")
    pytest.importorskip("onnxruntime")
    try:
        find_tritonserver()
    except FileNotFoundError as exc:  # CI installs nvidia-pytriton (the dev extra)
        pytest.skip(f"no tritonserver: {exc}")
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # this session's folder, shared by its workers
        base = base.parent
    root = base / "cofin_serving"
    root.mkdir(exist_ok=True)
    with FileLock(str(root / ".lock")):
        done = root / "done.json"
        if not done.is_file():
            paths = build_served_model(root, HEADS, num_frames=FRAMES, image_size=SIZE)
            done.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    return {k: Path(v) for k, v in json.loads(done.read_text()).items()}


def start_server(repo: Path, ports: tuple[int, int, int] | None = None, **kwargs) -> TritonServer:
    """A started server on free loopback ports (one retry if another process took a port)."""
    for attempt in range(2):
        http, grpc, metrics = ports or (free_port(), free_port(), free_port())
        server = TritonServer(
            repo,
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            startup_timeout_s=60,
            exit_timeout_s=1,
            **kwargs,
        )
        try:
            return server.start()
        except (OSError, TritonStartError):
            if attempt or ports is not None:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def launch_server():
    """``launch_server(repo, ports=None, **kwargs) -> started TritonServer`` (stop it)."""
    return start_server


@pytest.fixture(scope="session")
def server(built: dict[str, Path]) -> Iterator[TritonServer]:
    """One server on the Python-backend repository for the whole session (per worker)."""
    server = start_server(built["repo"])
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture(scope="session")
def onnx_backend(built: dict[str, Path]):
    """The same export run in-process by onnxruntime: the reference of every Triton answer."""
    from cofin_sdk.backends import OnnxBackend

    return OnnxBackend(built["export"], providers=["CPUExecutionProvider"])


def _random_inputs(seed: int, clips: int, boxes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``uint8 [clips, T, S, S, 3]`` frames and valid ``float32 [clips, boxes, 4]`` boxes
    inside the model input (None for ``boxes == 0``)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (clips, FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    if not boxes:
        return frames, None
    xy = rng.uniform(0, SIZE * 0.6, (clips, boxes, 2))
    wh = rng.uniform(1, SIZE * 0.4, (clips, boxes, 2))
    return frames, np.concatenate([xy, xy + wh], -1).astype(np.float32)


@pytest.fixture(scope="session")
def random_inputs():
    """``random_inputs(seed, clips, boxes) -> (frames, boxes or None)``."""
    return _random_inputs
