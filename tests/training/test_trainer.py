"""The co-finetuning trainer: end-to-end run, exact resume after SIGKILL, DDP parity, configs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _fixtures import tiny_train_config
from _plot_reading import read_bars
from safetensors.torch import load_file

from training.configs.base import load_config
from training.optim import lr_at, param_groups
from training.trainer import train

ROOT = Path(__file__).resolve().parents[2]


tiny_config = tiny_train_config


def losses(run_dir: Path) -> list[tuple[int, str, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["head"], r["loss"]) for r in rows if "loss" in r]


def _env() -> dict[str, str]:
    # One thread: float reductions in the same order in every process we compare.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def _mean_ava_loss(model, cfg) -> float:
    """The training objective on every AVA training keyframe, without augmentation."""
    from training.builders import preprocessing_of
    from training.data import build_dataset, collate_detection
    from training.loss import batch_loss

    ds = build_dataset(
        "ava", cfg.datasets[0].root, "train", preprocessing_of(cfg), train=False, boxes="gt"
    )
    batch = collate_detection([ds[i] for i in range(len(ds))])
    model.eval()
    with torch.no_grad():
        return float(
            batch_loss(model, "ava", "detection", batch, 0.0, len(ds), torch.device("cpu"))
        )


def test_tiny_run_learns_and_saves_a_loadable_model(synth_root, tmp_path):
    from cofin_sdk import from_pretrained
    from training.builders import build_datasets, build_model

    cfg = tiny_config(
        synth_root,
        tmp_path / "run",
        heads=("ava",),
        **{"schedule.max_steps": 24, "optim.base_lr": 2.0, "schedule.epochs": 4},
    )
    torch.manual_seed(cfg.run.seed)  # the trainer's own initialisation, rebuilt
    initial = build_model(cfg, build_datasets(cfg, "train"))
    final = train(cfg)
    model = from_pretrained(final)
    assert len(losses(tmp_path / "run")) == 24
    before, after = _mean_ava_loss(initial, cfg), _mean_ava_loss(model, cfg)
    assert after < 0.7 * before, (before, after)  # measured here: 1.30 → 0.56
    assert model.head_names == ["ava"] and model.config.heads["ava"].class_names[0] == "stand"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["run"]["out_dir"] == str(tmp_path / "run")


def test_co_finetuning_uses_every_head(synth_root, tmp_path):
    cfg = tiny_config(
        synth_root,
        tmp_path / "run",
        heads=("ava", "kinetics", "ssv2"),
        **{"schedule.max_steps": 9, "sampler.kind": "alternating"},
    )
    train(cfg)
    assert [h for _, h, _ in losses(tmp_path / "run")] == ["ava", "kinetics", "ssv2"] * 3


def test_existing_run_is_not_overwritten(synth_root, tmp_path):
    cfg = tiny_config(synth_root, tmp_path / "run", **{"schedule.max_steps": 1})
    train(cfg)
    with pytest.raises(ValueError, match="already holds checkpoints.*--resume"):
        train(cfg)


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(synth_root, tmp_path):
    steps = 8
    sets = {
        "schedule.max_steps": steps,
        "run.checkpoint_every": 1,
        "run.keep_last": 2,
        "model.overrides": {"spatial_depth": 1, "temporal_depth": 1, "drop_path_rate": 0.3},
    }
    paths = {}
    for name in ("straight", "killed"):
        cfg = tiny_config(synth_root, tmp_path / name, **sets)
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(cfg.to_json())
    cmd = [sys.executable, "-m", "training.train"]
    subprocess.run(
        [*cmd, str(paths["straight"])], check=True, env=_env(), cwd=tmp_path, capture_output=True
    )

    proc = subprocess.Popen(
        [*cmd, str(paths["killed"])],
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while (
        not list(ckpts.glob("step_00000003.pt")) and time.time() < deadline and proc.poll() is None
    ):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "final").exists(), (
        "the run finished before it could be killed"
    )
    subprocess.run(
        [*cmd, str(paths["killed"]), "--resume", str(tmp_path / "killed")],
        check=True,
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
    )

    a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    straight = losses(tmp_path / "straight")
    resumed = {s: loss for s, _, loss in losses(tmp_path / "killed")}  # later lines win
    assert [resumed[s] for s, _, _ in straight] == [loss for _, _, loss in straight]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(synth_root, tmp_path):
    sets = {
        "schedule.max_steps": 6,
        "run.global_batch_size": 4,
        "run.micro_batch_size": 1,
        "run.checkpoint_every": 0,
        "optim.base_lr": 1.0,
    }
    runs = {}
    for name in ("one", "two"):
        cfg = tiny_config(synth_root, tmp_path / name, **sets)
        runs[name] = tmp_path / f"{name}.json"
        runs[name].write_text(cfg.to_json())
    subprocess.run(
        [sys.executable, "-m", "training.train", str(runs["one"])],
        check=True,
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
    )
    with socket.socket() as sock:  # a free loopback port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
    ]
    result = subprocess.run(
        [*torchrun, "-m", "training.train", str(runs["two"])],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [h for _, h, _ in one] == [h for _, h, _ in two]  # same dataset schedule
    for (_, _, a), (_, _, b) in zip(one, two):
        assert abs(a - b) < 1e-4 * max(1.0, abs(a)), (one, two)
    a = load_file(tmp_path / "one" / "final" / "model.safetensors")
    b = load_file(tmp_path / "two" / "final" / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4


def test_lr_schedule_warms_up_linearly_then_follows_a_cosine():
    lrs = [lr_at(s, 1.0, warmup_steps=4, total_steps=12) for s in range(12)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0) and lrs[8] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert lr_at(12, 1.0, 4, 12) == pytest.approx(0.0)


def test_no_weight_decay_on_norms_biases_and_embeddings():
    from cofin_sdk import create_model

    model = create_model(
        "vivit_ti16_fe", spatial_depth=1, temporal_depth=1, num_frames=4, image_size=32
    )
    decay, no_decay = param_groups(model, 1e-4)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} >= {
        "spatial_pos_embed",
        "temporal_pos_embed",
        "cls_token",
        "spatial_norm.weight",
        "patch_embed.bias",
    }
    assert all(p.ndim > 1 for p in decay["params"]) and decay["weight_decay"] == 1e-4


@pytest.mark.parametrize(
    "override,match",
    [
        ("optim.base_lrr=0.1", "unknown config key 'optim.base_lrr'"),
        ("optim.base_lr=fast", "expected float"),
        ("datasets.imagenet.root=/x", "unknown dataset 'imagenet'"),
        ("optim.base_lr", "section.field=value"),
    ],
)
def test_bad_overrides_name_the_problem(override, match):
    with pytest.raises(ValueError, match=match):
        load_config("synthetic_tiny", [override])


def test_overrides_and_saved_config_round_trip(tmp_path):
    cfg = load_config(
        "synthetic_tiny",
        ["optim.base_lr=0.1", "datasets.ava.root=/data/ava", "augment.scale_range=(1.0, 1.2)"],
    )[0]
    assert cfg.optim.base_lr == 0.1 and cfg.datasets[0].root == "/data/ava"
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    again = load_config(str(path))[0]
    assert again == cfg and again.augment.scale_range == (1.0, 1.2)


def test_unknown_config_and_empty_dataset_errors(synth_root, tmp_path):
    with pytest.raises(ValueError, match="unknown config 'nope'"):
        load_config("nope")
    cfg = tiny_config(synth_root, tmp_path / "run")
    cfg.datasets[0].root = str(tmp_path / "missing_ava")
    with pytest.raises(FileNotFoundError, match="missing_ava"):
        train(cfg)


def test_transfer_recipe_builds_two_stages():
    stage1, stage2 = load_config("synthetic_tiny_transfer")
    assert [d.name for d in stage1.datasets] == ["kinetics", "ssv2"]
    assert [d.name for d in stage2.datasets] == ["ava"]
    assert stage2.model.backbone_from == f"{stage1.run.out_dir}/final"


def test_periodic_eval_and_eval_from_checkpoint_run_or_folder_agree(synth_root, tmp_path):
    from training.evaluation.runner import evaluate_checkpoint

    cfg = tiny_config(
        synth_root,
        tmp_path / "run",
        heads=("ava", "kinetics"),
        **{"schedule.max_steps": 2, "eval.every_steps": 1, "eval.at_end": True},
    )
    final = train(cfg)
    assert (tmp_path / "run" / "eval" / "step_00000001" / "metrics.json").is_file()  # periodic
    at_end = json.loads((tmp_path / "run" / "eval" / "step_00000002" / "metrics.json").read_text())
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows if "eval" in r] == [1, 2]
    from_ckpt = evaluate_checkpoint(
        str(tmp_path / "run" / "checkpoints" / "step_00000002.pt"), out=str(tmp_path / "e1")
    )
    from_folder = evaluate_checkpoint(
        str(final), out=str(tmp_path / "e2"), compare=str(tmp_path / "e1")
    )
    # Paper Fig. 1 of a run against itself: the figure is drawn, and has no bar at all.
    size, bars = read_bars(tmp_path / "e2" / "ava_ap_difference.png")
    assert size[0] >= 600 and bars == []
    from_run = evaluate_checkpoint(str(tmp_path / "run"), out=str(tmp_path / "e3"))
    for other in (from_ckpt, from_folder, from_run):
        assert other["ava"]["mAP"] == pytest.approx(at_end["ava"]["mAP"], abs=1e-9)
        assert other["kinetics"] == at_end["kinetics"]
    from training.evaluation.ava import AvaResult

    saved = AvaResult.from_json(tmp_path / "e1" / "ava_ava_metrics.json")
    assert saved.mAP == pytest.approx(from_ckpt["ava"]["mAP"]) and len(saved.groups) == len(
        saved.class_ids
    )
    csv_rows = (tmp_path / "e1" / "ava_detections.csv").read_text().splitlines()
    video_id, ts, *box, action, score = csv_rows[0].split(",")
    assert float(ts) >= 902 and len(box) == 4 and 0 <= float(score) <= 1 and int(action) >= 1
