"""Layering of training/: one builders module, no trainer <-> runner cycle, data without
evaluation, and checkpoints that carry the model record (evaluated without training data)."""

from __future__ import annotations

import ast
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _fixtures import tiny_train_config

from training.configs.base import TrainConfig, apply_overrides, load_config

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "training"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _importers(files: list[Path], banned: str) -> list[str]:
    return [
        f"{f.relative_to(ROOT)}: {m}"
        for f in files
        for m in sorted(_imports(f))
        if m == banned or m.startswith(banned + ".")
    ]


@pytest.mark.parametrize(
    "files,banned",
    [
        (sorted((TRAINING / "data").glob("*.py")), "training.evaluation"),
        (sorted((TRAINING / "evaluation").glob("*.py")), "training.trainer"),
        ([TRAINING / "builders.py"], "training.trainer"),
        ([TRAINING / "builders.py"], "training.evaluation"),
        (
            [TRAINING / f"{m}.py" for m in ("optim", "loss", "batching", "run_log", "checkpoint")],
            "training.trainer",
        ),
    ],
    ids=[
        "data-not-evaluation",
        "evaluation-not-trainer",
        "builders-not-trainer",
        "builders-not-evaluation",
        "split-modules-not-trainer",
    ],
)
def test_import_layering(files, banned):
    assert files and _importers(files, banned) == []


def test_training_data_runs_without_importing_evaluation(synth_root):
    code = (
        "import sys\n"
        "from cofin_sdk.preprocessing import Preprocessing\n"
        "from training.data import build_dataset\n"
        f"ds = build_dataset('ava', {str(synth_root / 'ava')!r}, 'val',\n"
        "                   Preprocessing(image_size=64, num_frames=4), False)\n"
        "assert ds.num_classes > 0 and len(ds) > 0\n"
        "print([m for m in sys.modules if m.startswith('training.evaluation')])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_trainer_keeps_its_public_names():
    import training.trainer as trainer
    from training import builders, loss, optim

    for module, names in {
        builders: ("build_datasets", "build_model", "preprocessing_of"),
        optim: ("lr_at", "param_groups"),
        loss: ("batch_loss",),
    }.items():
        for name in names:
            assert getattr(trainer, name) is getattr(module, name), name
    assert callable(trainer.train) and callable(trainer.train_step)


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def tiny_run(synth_root, tmp_path_factory) -> Path:
    """A 2-step AVA-only run (no evaluation while training)."""
    from training.trainer import train

    out_dir = tmp_path_factory.mktemp("layering") / "run"
    train(tiny_train_config(synth_root, out_dir, heads=("ava",), **{"schedule.max_steps": 2}))
    return out_dir


def _step_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / "step_00000002.pt"


def _ava_root(run: Path) -> Path:
    return Path(load_config(str(run / "config.json"))[0].datasets[0].root)


def test_checkpoint_carries_the_model_record_of_the_final_folder(tiny_run):
    from cofin_sdk.models.record import ModelRecord, read_model_record
    from training.checkpoint import read_checkpoint

    extra = read_checkpoint(_step_checkpoint(tiny_run))["extra"]
    record = ModelRecord.from_dict(extra["model_record"])
    final = read_model_record(tiny_run / "final")
    assert (record.architecture, record.config, record.preprocessing) == (
        final.architecture,
        final.config,
        final.preprocessing,
    )
    train_cfg = TrainConfig.from_dict(extra["config"])
    assert train_cfg == TrainConfig.from_dict(final.metadata["train_config"])  # JSON: lists


def test_run_config_and_model_record_are_told_apart(tiny_run):
    from cofin_sdk.models.record import read_model_record
    from training.evaluation.runner import _saved_config

    with pytest.raises(ValueError, match="training config.*not a model record"):
        read_model_record(tiny_run)
    configs = [_saved_config(p) for p in (tiny_run, tiny_run / "final", _step_checkpoint(tiny_run))]
    assert configs[0] == configs[1] == configs[2] and configs[0].datasets[0].name == "ava"


def test_step_checkpoint_is_evaluated_without_training_data(tiny_run, tmp_path):
    from training.builders import build_datasets
    from training.evaluation.runner import evaluate_checkpoint

    # A copy of the data without the training split: only the eval split can be read.
    data = tmp_path / "ava"
    shutil.copytree(_ava_root(tiny_run), data)
    removed = sorted((data / "annotations").glob("ava_train_*"))
    assert removed
    for path in removed:
        path.unlink()
    overrides = [f"datasets.ava.root={data}"]
    cfg = apply_overrides(load_config(str(tiny_run / "config.json"))[0], overrides)
    with pytest.raises(FileNotFoundError, match="ava_train"):
        build_datasets(cfg, "train")

    from_step = evaluate_checkpoint(
        str(_step_checkpoint(tiny_run)), out=str(tmp_path / "e_step"), overrides=overrides
    )
    from_final = evaluate_checkpoint(
        str(tiny_run / "final"), out=str(tmp_path / "e_final"), overrides=overrides
    )
    assert from_step == from_final and from_step["ava"]["per_class_ap"]


def test_checkpoint_without_record_falls_back_to_the_training_datasets(tiny_run, tmp_path, caplog):
    from training.evaluation.runner import evaluate_checkpoint

    payload = torch.load(_step_checkpoint(tiny_run), map_location="cpu", weights_only=True)
    del payload["extra"]["model_record"]  # what a checkpoint written before records holds
    old = tmp_path / "old" / "step_00000002.pt"
    old.parent.mkdir()
    torch.save(payload, old)
    with caplog.at_level(logging.WARNING, logger="training.evaluation.runner"):
        from_old = evaluate_checkpoint(str(old), out=str(tmp_path / "e_old"))
    assert "predates model records" in caplog.text
    from_final = evaluate_checkpoint(str(tiny_run / "final"), out=str(tmp_path / "e_final"))
    assert from_old == from_final
