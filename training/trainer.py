"""The co-finetuning loop (paper §3.2): one dataset per minibatch, one head per dataset.

``train(config)`` is the whole run: data, model, SGD with a warm-up + cosine schedule,
gradient accumulation to keep the global batch across world sizes, DDP, atomic
checkpoints with bit-exact resume, logging, periodic evaluation, and the final
``save_pretrained`` folder that ``Detector.from_pretrained`` loads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from cofin_sdk import create_model, from_pretrained, init_from_vit
from cofin_sdk.models import ViViT
from cofin_sdk.preprocessing import Preprocessing
from training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from training.configs.base import TrainConfig
from training.distributed import DistContext, all_reduce_sum, init_distributed
from training.samplers import CofinetuneSchedule

__all__ = ["build_datasets", "build_model", "lr_at", "param_groups", "train"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- data
def preprocessing_of(cfg: TrainConfig) -> Preprocessing:
    """The full input record of a run; saved with the model (``config.json``)."""
    return Preprocessing(
        image_size=cfg.run.image_size,
        num_frames=cfg.run.num_frames,
        frame_stride=cfg.run.frame_stride,
        mean=tuple(cfg.run.mean),
        std=tuple(cfg.run.std),
    )


def build_datasets(cfg: TrainConfig, split: str = "train") -> list[Dataset]:
    """One dataset per ``cfg.datasets`` entry (``split`` = "train" or "eval")."""
    from training.data import AugmentationConfig, build_dataset

    prep = preprocessing_of(cfg)
    out = []
    for d in cfg.datasets:
        train = split == "train"
        options = dict(d.options if train else {**d.options, **d.eval_options})
        if train:
            aug = cfg.augment
            # SSv2 labels name directions ("left to right"): no flip unless asked explicitly.
            default_flip = aug.horizontal_flip and d.kind.lower() != "ssv2"
            flip = options.pop("horizontal_flip", default_flip)
            options["augmentation"] = AugmentationConfig(
                tuple(aug.scale_range), aug.box_jitter, flip
            )
        else:
            options.pop("horizontal_flip", None)
        out.append(
            build_dataset(
                d.kind, d.root, d.train_split if train else d.eval_split, prep, train, **options
            )
        )
    return out


def _sample_seed(run_seed: int, step: int, slot: int) -> int:
    """Augmentation seed of one sample: a function of its place in the global batch only,
    so results do not depend on world size, worker count or resumption."""
    return int(np.random.SeedSequence([run_seed, step, slot]).generate_state(1)[0])


class _Samples(Dataset):
    """``(dataset, index, seed)`` → ``(dataset, sample)`` with per-sample seeded augmentation."""

    def __init__(self, datasets: list[Dataset]) -> None:
        self.datasets = datasets

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[int, dict[str, Any]]:
        dataset, index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return dataset, self.datasets[dataset][index]


class _MicroBatches(Sampler):
    """Yields this rank's micro-batches, step after step, from ``start`` to ``end``."""

    def __init__(
        self,
        schedule: CofinetuneSchedule,
        start: int,
        end: int,
        ctx: DistContext,
        micro: int,
        seed: int,
    ):
        self.schedule, self.start, self.end, self.ctx, self.micro, self.seed = (
            schedule,
            start,
            end,
            ctx,
            micro,
            seed,
        )

    def __len__(self) -> int:
        local = self.schedule.global_batch_size // self.ctx.world_size
        return (self.end - self.start) * math.ceil(local / self.micro)

    def __iter__(self):
        for step in range(self.start, self.end):
            dataset, indices = self.schedule.global_indices(step)
            slots = np.arange(self.ctx.rank, len(indices), self.ctx.world_size)  # this rank's shard
            for i in range(0, len(slots), self.micro):
                yield [
                    (dataset, int(indices[s]), _sample_seed(self.seed, step, int(s)))
                    for s in slots[i : i + self.micro]
                ]


def _collate(items: list[tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    from training.data import collate_classification, collate_detection

    dataset = items[0][0]
    samples = [s for _, s in items]
    return dataset, collate_detection(samples) if "boxes" in samples[0] else collate_classification(
        samples
    )


# ----------------------------------------------------------------------------- model
def build_model(cfg: TrainConfig, datasets: list[Dataset]) -> ViViT:
    """Create the ViViT with one head per dataset, then initialise it as configured."""
    heads = {}
    for d, ds in zip(cfg.datasets, datasets):
        task = "detection" if hasattr(ds, "class_ids") else "classification"
        spec: dict[str, Any] = {
            "task": task,
            "num_classes": ds.num_classes,
            "class_names": list(ds.class_names),
        }
        if task == "detection":
            spec["class_ids"] = [int(i) for i in ds.class_ids]
        heads[d.name] = spec
    model = create_model(
        cfg.model.name,
        heads=heads,
        num_frames=cfg.run.num_frames,
        image_size=cfg.run.image_size,
        **cfg.model.overrides,
    )
    model.preprocessing = preprocessing_of(cfg)
    if cfg.model.vit_init:
        report = init_from_vit(model, cfg.model.vit_init, tubelet_init=cfg.model.tubelet_init)
        logger.info(
            "ViT init: %d tensors loaded, %d fresh",
            len(report.loaded_keys),
            len(report.missing_keys),
        )
    if cfg.model.backbone_from:
        _load_backbone(model, cfg.model.backbone_from)
    return model


def _load_backbone(model: ViViT, source: str) -> None:
    """Transfer baseline stage 2: every non-head weight from a saved model; heads stay new."""
    donor = from_pretrained(source).state_dict()
    own = model.state_dict()
    backbone = {k: v for k, v in donor.items() if not k.startswith("heads.")}
    missing = [k for k in own if not k.startswith("heads.") and k not in backbone]
    shapes = [k for k in backbone if k in own and backbone[k].shape != own[k].shape]
    if missing or shapes:
        raise ValueError(
            f"backbone of {source} does not fit: missing {missing[:5]}, shape mismatches {shapes[:5]}"
        )
    model.load_state_dict({**own, **backbone}, strict=True)
    logger.info("backbone initialised from %s (%d tensors), heads fresh", source, len(backbone))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on norms, biases, position embeddings and the class token."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim <= 1 or "pos_embed" in name or name.endswith("cls_token")
        (no_decay if skip else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_at(
    step: int, peak_lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.0
) -> float:
    """Linear warm-up to ``peak_lr`` then cosine decay to ``min_ratio * peak_lr`` (App. A.1)."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# ----------------------------------------------------------------------------- loss
def batch_loss(
    model: torch.nn.Module,
    head: str,
    task: str,
    batch: dict[str, Any],
    smoothing: float,
    normaliser: float,
    device: torch.device,
) -> torch.Tensor:
    """Sum of per-clip losses / ``normaliser`` (the rank's share of the global batch).

    Summing then dividing by a fixed count (instead of averaging per micro-batch) makes
    the gradient of a global batch the same for any world size or accumulation split.
    Detection: per clip, binary cross-entropy summed over its boxes, averaged over classes,
    on label-smoothed multi-hot targets ``y(1-ε) + ε/2``.
    """
    video = batch["video"].to(device, non_blocking=True)
    if task == "classification":
        logits = model(video, head=head)
        labels = batch["label"].to(device)
        return (
            F.cross_entropy(logits.float(), labels, label_smoothing=smoothing, reduction="sum")
            / normaliser
        )
    logits = model(video, head=head, boxes=batch["boxes"].to(device))
    targets = batch["targets"].to(device).float() * (1 - smoothing) + smoothing / 2
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="sum")
    return loss / (logits.shape[1] * normaliser)


# ----------------------------------------------------------------------------- loop
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
    schedule = CofinetuneSchedule([len(d) for d in datasets], B, cfg.sampler.kind, cfg.run.seed)
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
    sampler = _MicroBatches(run.schedule, start, end, run.ctx, _micro_size(run), run.cfg.run.seed)
    workers = run.cfg.run.num_workers
    # A private generator: creating the loader must not consume the global RNG, which
    # drives dropout/stochastic depth and is restored exactly on resume.
    return DataLoader(
        _Samples(run.datasets),
        batch_sampler=sampler,
        collate_fn=_collate,
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
    logger_ = _MetricsLogger(run, start, end)
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
        logger_.log(step, head, loss, cfg.run.global_batch_size)
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
            extra={"config": run.cfg.to_dict()},
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
    """Generate the synthetic dataset when a synthetic preset's data is missing."""
    if not cfg.run.synth_preset:
        return
    roots = {Path(d.root).parent for d in cfg.datasets}
    for root in roots:
        if not (root / "synth_meta.json").is_file():
            if int(os.environ.get("RANK", "0")) != 0:
                raise FileNotFoundError(
                    f"synthetic data missing at {root}: generate it first with `cofin synth`"
                )
            from training.synth import generate

            logger.info("generating synthetic preset %r into %s", cfg.run.synth_preset, root)
            generate(root, preset=cfg.run.synth_preset, seed=0, workers=max(1, cfg.run.num_workers))


class _MetricsLogger:
    """JSONL + TensorBoard + tqdm, on rank 0 only."""

    def __init__(self, run: _Run, start: int, end: int) -> None:
        self.run, self.enabled = run, run.ctx.is_main
        self.pbar = self.writer = self.file = None
        self.last_time, self.clips = time.perf_counter(), 0
        self.running: dict[str, float] = {}
        if not self.enabled:
            return
        self.file = open(run.out_dir / "metrics.jsonl", "a")  # noqa: SIM115 (closed in close())
        if run.cfg.run.progress:
            from tqdm.auto import tqdm

            self.pbar = tqdm(
                total=end, initial=start, desc=run.cfg.name, unit="step", dynamic_ncols=True
            )
        if run.cfg.run.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run.out_dir / "tb"))
            except ImportError:
                logger.warning(
                    "tensorboard not installed (pip install 'cofin-sdk[train]'): TensorBoard logging off"
                )

    def log(self, step: int, head: str, loss: float, clips: int) -> None:
        if not self.enabled:
            return
        self.clips += clips
        self.running[head] = (
            loss if head not in self.running else 0.9 * self.running[head] + 0.1 * loss
        )
        lr = self.run.optimizer.param_groups[0]["lr"]
        record = {
            "step": step,
            "epoch": step / self.run.schedule.steps_per_epoch,
            "head": head,
            "loss": loss,
            "lr": lr,
        }
        if step % max(1, self.run.cfg.run.log_every) == 0 or step == 1:
            now = time.perf_counter()
            record["clips_per_s"] = self.clips / max(now - self.last_time, 1e-9)
            self.last_time, self.clips = now, 0
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.writer:
            self.writer.add_scalar(f"loss/{head}", loss, step)
            self.writer.add_scalar("lr", lr, step)
        if self.pbar:
            self.pbar.update(1)
            self.pbar.set_postfix(
                {**{f"loss_{k}": f"{v:.3f}" for k, v in self.running.items()}, "lr": f"{lr:.3g}"}
            )

    def eval(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled or not metrics:
            return
        self.file.write(json.dumps({"step": step, "eval": metrics}) + "\n")
        self.file.flush()
        if self.writer:
            for key, value in _flatten(metrics).items():
                self.writer.add_scalar(f"eval/{key}", value, step)

    def close(self) -> None:
        for obj in (self.pbar, self.writer, self.file):
            if obj is not None:
                obj.close()


def _flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out
