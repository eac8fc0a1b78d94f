"""``Detector.stream`` and ``cofin watch`` on a Triton server: the same keyframe scores as
the export run in-process by onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _fixtures import moving_block_frames

from cofin_sdk import Detector
from cofin_sdk.cli.main import main
from cofin_sdk.io.video import write_video

BOX = [[4.0, 4.0, 40.0, 44.0]]


def _clip(folder: Path) -> Path:
    path = folder / "clip.mp4"
    write_video(path, moving_block_frames(30, 48, 64), fps=10)
    return path


def test_stream_on_triton_equals_onnxruntime(server, onnx_backend, tmp_path):
    clip = _clip(tmp_path)
    remote = Detector.from_triton(server.grpc_url, progress=False)
    local = Detector(onnx_backend, progress=False)
    kwargs = {"keyframe": "causal", "drop": "none", "boxes": BOX}
    with remote.stream(str(clip), **kwargs) as a, local.stream(str(clip), **kwargs) as b:
        got, want = list(a), list(b)
    assert [r.time for r in got] == [r.time for r in want] == [0.0, 1.0, 2.0]
    for r, s in zip(got, want, strict=True):
        np.testing.assert_allclose(
            r.detections.action_scores, s.detections.action_scores, atol=1e-4
        )
        for head in ("kinetics", "ssv2"):
            np.testing.assert_allclose(
                r.classifications[head].clip_probabilities,
                s.classifications[head].clip_probabilities,
                atol=1e-4,
            )


def test_watch_cli_on_triton(server, tmp_path, capsys):
    clip = _clip(tmp_path)
    jsonl = tmp_path / "live.jsonl"
    argv = ["watch", str(clip), "--backend", "triton", "--url", server.grpc_url]
    assert main([*argv, "--drop", "none", "--box", "4,4,40,44", "--jsonl", str(jsonl)]) == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["time"] for line in lines] == [0.0, 1.0, 2.0]
    assert set(lines[0]["classifications"]) == {"kinetics", "ssv2"}
    assert "3 keyframes scored, 0 dropped" in capsys.readouterr().out
