"""A REAL demo server for the demo tests: tiny random weights, synthetic example clips.

The server runs in this process (gradio's own server thread) on a free 127.0.0.1 port and
is stopped, with its request folders removed, when the session ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _fixtures import tiny_model

pytest.importorskip("gradio", reason='the demo needs gradio: pip install "cofin-sdk[demo]"')

ACTIONS = ["stand", "sit", "walk"]
KINETICS = ["dance", "run", "jump", "swim", "cook", "read", "sing"]


@dataclass
class Server:
    url: str
    demo: Any  # demo.app.CofinDemo
    detector: Any  # the Detector it serves (the same object)
    examples: Any  # demo.examples.Examples


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(
        num_frames=4,
        image_size=32,
        heads={
            "ava": {"task": "detection", "num_classes": 3, "class_names": ACTIONS},
            "kinetics": {"task": "classification", "num_classes": 7, "class_names": KINETICS},
        },
    )
    return Path(model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny")))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    from demo.app import CofinDemo, load_detector
    from demo.examples import ensure_examples
    from demo.screenshot import free_port

    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    examples = ensure_examples(tmp_path_factory.mktemp("examples"))
    detector = load_detector(model_dir)
    demo = CofinDemo(detector, model_name="tiny", examples=examples)
    port = free_port()
    demo.launch(host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Server(f"http://127.0.0.1:{port}/", demo, detector, examples)
    finally:
        demo.close()
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous
