"""The evaluation runner through a Backend: torch keeps the numbers of the model's forward
(periodic evaluation too), onnxruntime gives torch's AVA mAP and clip top-1 (1e-4), and the
``cofin eval --backend/--url/--int8`` options are checked before anything is loaded."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _fixtures import tiny_train_config
from torch.utils.data import DataLoader

from training.configs.base import TrainConfig

pytest.importorskip("onnxruntime")


def _tiny_config(synth_root: Path, out_dir: Path) -> TrainConfig:
    """Two heads (AVA detection, Kinetics classification), 1+1 layers, 64 px, 4 frames."""
    # the trainer's own evaluation at the end, kept for comparison
    return tiny_train_config(synth_root, out_dir, **{"schedule.max_steps": 3, "eval.at_end": True})


@pytest.fixture(scope="module")
def tiny_run(synth_root, tmp_path_factory) -> tuple[Path, TrainConfig]:
    from training.trainer import train

    out_dir = tmp_path_factory.mktemp("eval_backends") / "run"
    cfg = _tiny_config(synth_root, out_dir)
    train(cfg)
    return out_dir, cfg


@torch.inference_mode()
def _forward_path(model, cfg: TrainConfig) -> dict[str, dict[str, np.ndarray]]:
    """The runner before backends (commit f3c1c83): ``model(video, head, boxes)`` on the
    datasets' normalised float clips; sigmoid of detection logits, classification logits."""
    from training.builders import build_datasets
    from training.data import collate_classification, collate_detection

    model.eval()
    out = {}
    for dcfg, ds in zip(cfg.datasets, build_datasets(cfg, "eval")):
        detection = model.config.heads[dcfg.name].task == "detection"
        loader = DataLoader(
            ds, batch_size=8, collate_fn=collate_detection if detection else collate_classification
        )
        scores, labels = [], []
        for batch in loader:
            if detection:
                logits = model(batch["video"], head=dcfg.name, boxes=batch["boxes"])
                scores.append(torch.sigmoid(logits.float()).numpy())
            else:
                scores.append(model(batch["video"], head=dcfg.name).float().numpy())
                labels.append(batch["label"].numpy())
        out[dcfg.name] = {
            "scores": np.concatenate(scores),
            "labels": np.concatenate(labels) if labels else None,
        }
    return out


def _forward_path_metrics(model, cfg: TrainConfig, out_dir: Path) -> dict:
    """The metrics the old runner computed from :func:`_forward_path`'s scores."""
    from training.builders import build_datasets
    from training.data import collate_detection
    from training.evaluation.clip_metrics import top_k_accuracy
    from training.evaluation.runner import _evaluate_detection

    scores = _forward_path(model, cfg)
    out_dir.mkdir(parents=True)
    metrics = {}
    for dcfg, ds in zip(cfg.datasets, build_datasets(cfg, "eval")):
        got = scores[dcfg.name]
        if got["labels"] is None:
            batch = collate_detection([ds[i] for i in range(len(ds))])
            out = {
                "scores": [got["scores"]],
                "video_id": batch["video_id"],
                "timestamp": batch["timestamp"],
                "boxes_norm": [batch["boxes_norm"].numpy()],
            }
            metrics[dcfg.name] = _evaluate_detection(dcfg, cfg, ds, out, out_dir)
        else:
            accuracy = top_k_accuracy(got["scores"], got["labels"], ks=(1, 5))
            metrics[dcfg.name] = {"top1": accuracy[1], "top5": accuracy[5]}
    return metrics


def _assert_same_metrics(got: dict, expected: dict, abs_tol: float) -> None:
    assert got.keys() == expected.keys()
    for head, values in expected.items():
        for key, value in values.items():
            if key == "per_class_ap":
                assert got[head][key].keys() == value.keys()
                for name, ap in value.items():
                    other = got[head][key][name]
                    assert (ap is None and other is None) or other == pytest.approx(
                        ap, abs=abs_tol
                    ), (head, name)
            elif value is None:
                assert got[head][key] is None, (head, key)
            else:
                assert got[head][key] == pytest.approx(value, abs=abs_tol), (head, key)


# ----------------------------------------------------------------------------- torch
def test_eval_samples_carry_the_letterboxed_uint8_clip_that_video_normalises(tiny_run):
    from cofin_sdk.preprocessing import normalize
    from training.builders import build_datasets

    _, cfg = tiny_run
    for ds in build_datasets(cfg, "eval"):
        sample = ds[0]
        frames = sample["frames"]
        assert frames.dtype == torch.uint8 and frames.shape == (4, 64, 64, 3)
        prep = ds.preprocessing
        assert torch.equal(
            normalize(frames.permute(3, 0, 1, 2), prep.mean, prep.std), sample["video"]
        )
    assert "frames" not in build_datasets(cfg, "train")[0][0]  # training samples unchanged


def test_torch_backend_scores_equal_the_model_forward(tiny_run):
    from cofin_sdk import from_pretrained
    from cofin_sdk.backends import TorchBackend
    from training.builders import build_datasets
    from training.data import collate_classification, collate_detection
    from training.evaluation.runner import _predict

    run, cfg = tiny_run
    model = from_pretrained(run / "final")
    expected = _forward_path(model, cfg)
    backend = TorchBackend(model)
    for dcfg, ds in zip(cfg.datasets, build_datasets(cfg, "eval")):
        detection = dcfg.name == "ava"
        loader = DataLoader(
            ds, batch_size=8, collate_fn=collate_detection if detection else collate_classification
        )
        got = np.concatenate(_predict(backend, dcfg.name, loader, None, detection, False)["scores"])
        want = expected[dcfg.name]["scores"]
        if not detection:  # the backend gives softmax scores, the forward logits
            want = torch.softmax(torch.from_numpy(want), dim=1).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_periodic_and_cli_eval_give_the_forward_path_metrics(tiny_run, tmp_path):
    from cofin_sdk import from_pretrained
    from training.evaluation.runner import evaluate_checkpoint

    run, cfg = tiny_run
    periodic = json.loads((run / "eval" / "step_00000003" / "metrics.json").read_text())
    expected = _forward_path_metrics(from_pretrained(run / "final"), cfg, tmp_path / "old")
    _assert_same_metrics(periodic, expected, abs_tol=1e-6)
    torch_eval = evaluate_checkpoint(str(run / "final"), out=str(tmp_path / "torch"))
    _assert_same_metrics(torch_eval, expected, abs_tol=1e-6)


# ----------------------------------------------------------------------------- onnx
def test_onnx_backend_gives_the_torch_map_and_top1(tiny_run, tmp_path, caplog):
    import logging
    import shutil

    from cofin_sdk.export import export
    from training.evaluation.runner import evaluate_checkpoint

    run, _ = tiny_run
    torch_eval = evaluate_checkpoint(str(run / "final"), out=str(tmp_path / "torch"))
    # No onnx/ export in the folder: a temporary one.
    onnx_tmp = evaluate_checkpoint(str(run / "final"), out=str(tmp_path / "o1"), backend="onnx")
    _assert_same_metrics(onnx_tmp, torch_eval, abs_tol=1e-4)
    assert onnx_tmp["ava"]["mAP"] is not None and onnx_tmp["kinetics"]["top1"] is not None
    # The folder's own onnx/ export (a copy of final/, the fixture is shared).
    folder = tmp_path / "final"
    shutil.copytree(run / "final", folder)
    export(folder, folder / "onnx", progress=False)
    with caplog.at_level(logging.INFO, logger="training.evaluation.runner"):
        onnx_own = evaluate_checkpoint(str(folder), out=str(tmp_path / "o2"), backend="onnx")
    assert "temporary folder" not in caplog.text
    _assert_same_metrics(onnx_own, torch_eval, abs_tol=1e-4)


def test_cli_eval_onnx_int8_reexports_when_the_folder_has_no_int8_graphs(
    tiny_run, tmp_path, capsys
):
    from training.evaluation.cli import register_eval

    run, _ = tiny_run
    parser = argparse.ArgumentParser()
    register_eval(parser.add_subparsers())
    args = parser.parse_args(
        ["eval", str(run / "final"), "--backend", "onnx", "--int8", "--out", str(tmp_path / "e")]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "ava: {'mAP':" in printed and "kinetics: {'top1':" in printed
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert 0 <= metrics["kinetics"]["top1"] <= 1


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kind,url,int8,match",
    [
        ("torch", None, False, None),
        ("onnx", None, True, None),
        ("triton", "grpc://127.0.0.1:1", False, None),
        ("tensorrt", None, False, "choose one of torch, onnx, triton"),
        ("torch", None, True, "--int8 runs onnxruntime's int8 graphs"),
        ("triton", None, False, "--backend triton needs --url"),
        ("onnx", "grpc://127.0.0.1:1", False, "--url is the Triton server"),
    ],
)
def test_backend_options(kind, url, int8, match):
    from training.evaluation.runner import check_backend_options

    if match is None:
        check_backend_options(kind, url, int8)
    else:
        with pytest.raises(ValueError, match=match):
            check_backend_options(kind, url, int8)


def test_bad_options_fail_before_the_model_is_loaded(tmp_path):
    from training.evaluation.runner import evaluate_checkpoint

    with pytest.raises(ValueError, match="--backend triton needs --url"):
        evaluate_checkpoint(str(tmp_path / "no_such_model"), backend="triton")


def test_triton_without_its_backend_module_is_a_clear_error(tiny_run, monkeypatch):
    import importlib.util

    from training.evaluation.runner import build_backend

    run, cfg = tiny_run
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.endswith("triton_backend") else real(name, *a),
    )
    with pytest.raises(ValueError, match="no Triton backend"):
        build_backend("triton", run / "final", cfg, url="grpc://127.0.0.1:1")


def test_a_backend_without_the_dataset_head_or_classes_is_refused(tiny_run, tmp_path):
    from cofin_sdk import from_pretrained
    from cofin_sdk.backends import TorchBackend
    from cofin_sdk.models.config import HeadSpec
    from training.evaluation.runner import evaluate_model

    run, cfg = tiny_run
    backend = TorchBackend(from_pretrained(run / "final"))
    backend.heads = {"kinetics": backend.heads["kinetics"]}
    with pytest.raises(ValueError, match="has no head 'ava'"):
        evaluate_model(backend, cfg, tmp_path)
    backend.heads = {"ava": HeadSpec("detection", 2), "kinetics": backend.heads["kinetics"]}
    with pytest.raises(ValueError, match="scores 2 classes but the 'ava' validation set has"):
        evaluate_model(backend, cfg, tmp_path)
