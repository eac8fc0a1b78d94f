"""The co-finetuning loop (paper §3.2): one dataset per minibatch, one head per dataset.

``train(config)`` is the whole run: data and model (:mod:`training.builders`), SGD with a
warm-up + cosine schedule (:mod:`training.optim`), gradient accumulation to keep the
global batch across world sizes (:mod:`training.batching`, :mod:`training.loss`), DDP,
atomic checkpoints that carry the model record and resume bit-exactly, logging
(:mod:`training.run_log`), periodic evaluation, and the final ``save_pretrained`` folder
that ``Detector.from_pretrained`` loads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from cofin_sdk.io.paths import check_output_folder
from cofin_sdk.models import ViViT
from cofin_sdk.models.record import ModelRecord
from training.batching import MicroBatches, Samples, collate_micro_batch
from training.builders import build_datasets, build_model, preprocessing_of
from training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from training.configs.base import TrainConfig
from training.distributed import DistContext, all_reduce_sum, init_distributed
from training.loss import batch_loss
from training.optim import lr_at, param_groups
from training.run_log import RunLogger
from training.samplers import CofinetuneSchedule

# build_datasets, build_model, preprocessing_of, lr_at, param_groups and batch_loss live in
# their own modules now; re-exported so `from training.trainer import ...` keeps working.
__all__ = [
    "batch_loss",
    "build_datasets",
    "build_model",
    "lr_at",
    "param_groups",
    "preprocessing_of",
    "train",
    "train_step",
]

logger = logging.getLogger(__name__)


@dataclass
class _Run:
    cfg: TrainConfig
    ctx: DistContext
    out_dir: Path
    model: ViViT
    net: torch.nn.Module  # model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    schedule: CofinetuneSchedule
    datasets: list[Dataset]
    total_steps: int
    warmup_steps: int
    peak_lr: float


def _setup(cfg: TrainConfig, resume: bool) -> tuple[_Run, int]:
    ctx = init_distributed(cfg.run.device)
    out_dir = Path(cfg.run.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    if not resume and latest_checkpoint(ckpt_dir) is not None:
        raise ValueError(
            f"{out_dir} already holds checkpoints: pass --resume {out_dir} or choose another run.out_dir"
        )
    torch.manual_seed(cfg.run.seed)
    datasets = build_datasets(cfg, "train")
    model = build_model(cfg, datasets).to(ctx.device)
    net = model
    if ctx.enabled:
        # Only one head runs per step, so the other heads are legitimately unused.
        net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    B = cfg.run.global_batch_size
    if B % ctx.world_size:
        raise ValueError(
            f"run.global_batch_size={B} must be divisible by the world size {ctx.world_size}"
        )
    peak_lr = cfg.optim.base_lr * B / cfg.optim.base_batch_size  # linear scaling rule
    optimizer = torch.optim.SGD(
        param_groups(model, cfg.optim.weight_decay),
        lr=peak_lr,
        momentum=cfg.optim.momentum,
        nesterov=cfg.optim.nesterov,
    )
    schedule = CofinetuneSchedule(
        [len(d) for d in datasets],
        B,
        cfg.sampler.kind,
        cfg.run.seed,
        exact_quota=cfg.sampler.exact_quota,
    )
    total = max(1, round(cfg.schedule.epochs * schedule.steps_per_epoch))
    warmup = min(total, max(1, round(cfg.schedule.warmup_epochs * schedule.steps_per_epoch)))
    run = _Run(cfg, ctx, out_dir, model, net, optimizer, schedule, datasets, total, warmup, peak_lr)
    start = 0
    latest = latest_checkpoint(ckpt_dir) if resume else None
    if latest is not None:
        start = int(load_checkpoint(latest, model, optimizer)["step"])
        logger.info("resumed from %s at step %d", latest, start)
    return run, start


def _micro_size(run: _Run) -> int:
    local = run.cfg.run.global_batch_size // run.ctx.world_size
    return min(run.cfg.run.micro_batch_size or local, local)


def _micro_batches_per_step(run: _Run) -> int:
    return math.ceil(run.cfg.run.global_batch_size // run.ctx.world_size / _micro_size(run))


def _loader(run: _Run, start: int, end: int) -> DataLoader:
    sampler = MicroBatches(run.schedule, start, end, run.ctx, _micro_size(run), run.cfg.run.seed)
    workers = run.cfg.run.num_workers
    # A private generator: creating the loader must not consume the global RNG, which
    # drives dropout/stochastic depth and is restored exactly on resume.
    return DataLoader(
        Samples(run.datasets),
        batch_sampler=sampler,
        collate_fn=collate_micro_batch,
        num_workers=workers,
        generator=torch.Generator().manual_seed(run.cfg.run.seed),
        pin_memory=run.ctx.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )


def train_step(
    run: _Run, step: int, micro_batches: list[tuple[int, dict[str, Any]]]
) -> tuple[str, float]:
    """One optimiser step over this rank's micro-batches; returns (head, global mean loss)."""
    cfg = run.cfg
    lr = lr_at(step, run.peak_lr, run.warmup_steps, run.total_steps, cfg.schedule.min_lr_ratio)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.net.train()
    run.optimizer.zero_grad(set_to_none=True)
    head = cfg.datasets[micro_batches[0][0]].name
    task = run.model.config.heads[head].task
    normaliser = cfg.run.global_batch_size / run.ctx.world_size
    total = torch.zeros((), device=run.ctx.device)
    for i, (_, batch) in enumerate(micro_batches):
        sync = i == len(micro_batches) - 1 or not run.ctx.enabled
        with run.net.no_sync() if not sync else contextlib.nullcontext():
            with torch.autocast(run.ctx.device.type, dtype=torch.bfloat16, enabled=cfg.run.bf16):
                loss = batch_loss(
                    run.net,
                    head,
                    task,
                    batch,
                    cfg.optim.label_smoothing,
                    normaliser,
                    run.ctx.device,
                )
            loss.backward()
        total += loss.detach()
    if cfg.optim.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip_norm)
    run.optimizer.step()
    loss_value = float(all_reduce_sum(total, run.ctx)) / run.ctx.world_size
    if not math.isfinite(loss_value):
        raise FloatingPointError(
            f"loss became {loss_value} at step {step} on head {head!r}; lower optim.base_lr"
        )
    return head, loss_value


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run (or resume) one training stage; returns the ``save_pretrained`` folder."""
    cfg.validate()
    check_output_folder(Path(cfg.run.out_dir), "run.out_dir=")
    _prepare_data(cfg)
    run, start = _setup(cfg, resume)
    end = min(run.total_steps, cfg.schedule.max_steps or run.total_steps)
    if run.ctx.is_main:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        (run.out_dir / "config.json").write_text(cfg.to_json())
        logger.info(
            "%s: %d steps (%d per epoch, warm-up %d), global batch %d, peak lr %.4g, datasets %s",
            cfg.name,
            end,
            run.schedule.steps_per_epoch,
            run.warmup_steps,
            cfg.run.global_batch_size,
            run.peak_lr,
            {d.name: len(ds) for d, ds in zip(cfg.datasets, run.datasets)},
        )
    logger_ = RunLogger(
        run.out_dir,
        enabled=run.ctx.is_main,
        title=cfg.name,
        start=start,
        end=end,
        steps_per_epoch=run.schedule.steps_per_epoch,
        log_every=cfg.run.log_every,
        progress=cfg.run.progress,
        tensorboard=cfg.run.tensorboard,
    )
    micro_per_step = _micro_batches_per_step(run)
    pending: list[tuple[int, dict[str, Any]]] = []
    step = start
    for item in _loader(run, start, end):
        pending.append(item)
        if len(pending) < micro_per_step:
            continue
        head, loss = train_step(run, step, pending)
        pending = []
        step += 1
        lr = run.optimizer.param_groups[0]["lr"]
        logger_.log(step, head, loss, lr, cfg.run.global_batch_size)
        if cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0 and step < end:
            _checkpoint(run, step)
        if cfg.eval.every_steps and step % cfg.eval.every_steps == 0 and step < end:
            logger_.eval(step, _evaluate(run, step))
    _checkpoint(run, step)
    metrics = _evaluate(run, step) if cfg.eval.at_end else {}
    logger_.eval(step, metrics)
    logger_.close()
    final = run.out_dir / "final"
    if run.ctx.is_main:
        run.model.save_pretrained(
            final, metadata={"train_config": cfg.to_dict(), "step": step, "metrics": metrics}
        )
    _barrier(run.ctx)
    return final


def _checkpoint(run: _Run, step: int) -> None:
    if run.ctx.is_main:
        save_checkpoint(
            run.out_dir / "checkpoints",
            step,
            run.model,
            run.optimizer,
            # The model record lets `cofin eval step_*.pt` rebuild the model without data.
            extra={
                "config": run.cfg.to_dict(),
                "model_record": ModelRecord.for_model(run.model).to_dict(),
            },
            keep_last=run.cfg.run.keep_last,
        )
    _barrier(run.ctx)


def _barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        torch.distributed.barrier()


def _evaluate(run: _Run, step: int) -> dict[str, Any]:
    """Evaluate on rank 0 through the evaluation runner (the same code as ``cofin eval``)."""
    metrics: dict[str, Any] = {}
    if run.ctx.is_main:
        from training.evaluation.runner import evaluate_model

        with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
            metrics = evaluate_model(
                run.model,
                run.cfg,
                run.out_dir / "eval" / f"step_{step:08d}",
                device=run.ctx.device,
                max_batches=run.cfg.eval.max_batches,
                progress=run.cfg.run.progress,
            )
    _barrier(run.ctx)
    return metrics


def _prepare_data(cfg: TrainConfig) -> None:
    """Checks every dataset root, then generates a synthetic preset's data if it is missing.

    Data is generated only into ``run.synth_root`` (the preset's own folder); a dataset
    whose root was moved elsewhere (``--set datasets.<name>.root=...``) must exist, and is
    checked before anything is written.
    """
    synth_root = None
    if cfg.run.synth_preset:
        synth_root = Path(cfg.run.synth_root or _common_parent(cfg))
    for d in cfg.datasets:
        root = Path(d.root)
        generated = synth_root is not None and root.parent == synth_root
        if not root.is_dir() and not generated:
            fallback = (
                f", or drop that override to use the data in {synth_root}" if synth_root else ""
            )
            raise FileNotFoundError(
                f"datasets.{d.name}.root={d.root} does not exist; point it at a {d.kind}-format "
                f"dataset folder{fallback}"
            )
    if synth_root is None or (synth_root / "synth_meta.json").is_file():
        return
    if not any(Path(d.root).parent == synth_root for d in cfg.datasets):
        return
    if int(os.environ.get("RANK", "0")) != 0:
        raise FileNotFoundError(
            f"synthetic data missing at {synth_root}: generate it first with `cofin synth`"
        )
    from training.synth import generate
    from training.synth.cli import check_out_dir

    check_out_dir(str(synth_root), "run.synth_root")
    logger.info("generating synthetic preset %r into %s", cfg.run.synth_preset, synth_root)
    generate(synth_root, preset=cfg.run.synth_preset, seed=0, workers=max(1, cfg.run.num_workers))


def _common_parent(cfg: TrainConfig) -> str:
    """The one folder all dataset roots sit in (configs saved before ``run.synth_root``)."""
    parents = {str(Path(d.root).parent) for d in cfg.datasets}
    if len(parents) != 1:
        raise ValueError(
            f"run.synth_preset={cfg.run.synth_preset!r} needs run.synth_root: the dataset "
            f"roots sit in {sorted(parents)}"
        )
    return parents.pop()
