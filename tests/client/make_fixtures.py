"""Builds what the torch-free client set needs, in the FULL environment (torch, onnx, the
bundled tritonserver): run by ``.ci/client`` before the client venv runs ``tests/client``.

``python tests/client/make_fixtures.py OUT`` writes into ``OUT``:

* ``model/``    a tiny seeded ``vivit_ti16_fe`` (``save_pretrained``, the new resize rule);
* ``export/``   its ONNX export (``cofin export``: fp32 + int8 graphs);
* ``repo/``     the Python-backend Triton repository (``cofin serve build --platform python``);
* ``video.mp4`` a short H.264 clip with moving blocks;
* ``reference.npz`` what the torch model answers on that video (the client must match it).

Nothing here is committed: the graphs are made from the real model by the real exporter
each run, so the client set tests what users get.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(TESTS.parent),
    str(TESTS),
]  # the repository first: tests/cofin_sdk is no package

from _fixtures import build_served_model  # noqa: E402
from cases import BOXES, HEADS, make_video, run_cases  # noqa: E402


def main(out: Path) -> None:
    from cofin_sdk import Detector

    out.mkdir(parents=True, exist_ok=True)
    paths = build_served_model(out, HEADS, int8=True)
    video = make_video(out / "video.mp4")
    reference = run_cases(Detector.from_pretrained(paths["model"], progress=False), video)
    np.savez(out / "reference.npz", **reference)
    print(f"client fixtures in {out}: {sorted(p.name for p in out.iterdir())}; boxes {BOXES}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/client/make_fixtures.py OUT_DIR")
    main(Path(sys.argv[1]))
