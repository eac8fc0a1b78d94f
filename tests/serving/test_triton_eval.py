"""``cofin eval --backend triton`` gives the torch mAP and top-1: a trained tiny model, its
Python-backend repository on a real ``tritonserver``, the evaluation runner through the
Triton backend vs through torch, on the synthetic validation sets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from _fixtures import tiny_train_config

from serving.repository import build_repository


@pytest.fixture(scope="module")
def trained(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.trainer import train

    out_dir = tmp_path_factory.mktemp("triton_eval") / "run"
    return train(tiny_train_config(synth_root, out_dir, **{"schedule.max_steps": 2}))


def _close(got: dict, expected: dict, tol: float) -> None:
    assert got.keys() == expected.keys()
    for head, values in expected.items():
        for key, value in values.items():
            if key == "per_class_ap":
                for name, ap in value.items():
                    other = got[head][key][name]
                    assert (ap is None) == (other is None), (head, name)
                    assert ap is None or abs(other - ap) <= tol, (head, name, ap, other)
            elif value is not None:
                assert abs(got[head][key] - value) <= tol, (head, key, value, got[head][key])


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_eval_through_triton_gives_the_torch_metrics(trained, launch_server, tmp_path, scheme):
    from training.evaluation.runner import evaluate_checkpoint

    repo = build_repository(trained, tmp_path / "repo", platform="python")
    server = launch_server(repo)
    try:
        url = server.grpc_url if scheme == "grpc" else server.http_url
        torch_metrics = evaluate_checkpoint(str(trained), out=str(tmp_path / "torch"))
        triton_metrics = evaluate_checkpoint(
            str(trained), out=str(tmp_path / "triton"), backend="triton", url=url
        )
    finally:
        with contextlib.suppress(Exception):
            server.stop()
    assert torch_metrics["ava"]["mAP"] is not None and "top1" in torch_metrics["kinetics"]
    _close(triton_metrics, torch_metrics, tol=1e-4)
