"""What a run reports while it trains: ``metrics.jsonl``, TensorBoard and a tqdm bar (rank 0)."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "flatten_metrics"]

logger = logging.getLogger(__name__)


class RunLogger:
    """JSONL + TensorBoard + tqdm; a no-op unless ``enabled`` (rank 0).

    Args:
        out_dir: The run folder (``metrics.jsonl`` and ``tb/`` go there).
        enabled: Whether this process logs (only rank 0 does).
        title: Progress bar label (the run name).
        start: First step of this process (after a resume).
        end: Last step of the run.
        steps_per_epoch: Steps in one epoch (for the ``epoch`` column).
        log_every: Steps between throughput (``clips_per_s``) measurements.
        progress: Show a tqdm bar.
        tensorboard: Write TensorBoard scalars (needs the ``train`` extra).

    Example:
        >>> import tempfile
        >>> log = RunLogger(Path(tempfile.mkdtemp()), enabled=True, title="demo", start=0,
        ...                 end=1, steps_per_epoch=1, progress=False, tensorboard=False)
        >>> log.log(1, "ava", 0.5, lr=0.1, clips=4)
        >>> log.close()
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        enabled: bool,
        title: str,
        start: int,
        end: int,
        steps_per_epoch: int,
        log_every: int = 10,
        progress: bool = True,
        tensorboard: bool = True,
    ) -> None:
        self.enabled, self.steps_per_epoch, self.log_every = enabled, steps_per_epoch, log_every
        self.pbar = self.writer = self.file = None
        self.last_time, self.clips = time.perf_counter(), 0
        self.running: dict[str, float] = {}
        if not self.enabled:
            return
        self.file = open(out_dir / "metrics.jsonl", "a")  # noqa: SIM115 (closed in close())
        if progress:
            from tqdm.auto import tqdm

            self.pbar = tqdm(total=end, initial=start, desc=title, unit="step", dynamic_ncols=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                logger.warning(
                    "tensorboard not installed (pip install 'cofin-sdk[train]'): TensorBoard logging off"
                )

    def log(self, step: int, head: str, loss: float, lr: float, clips: int) -> None:
        """One optimiser step: its head, global mean loss, learning rate and clip count."""
        if not self.enabled:
            return
        self.clips += clips
        self.running[head] = (
            loss if head not in self.running else 0.9 * self.running[head] + 0.1 * loss
        )
        record = {
            "step": step,
            "epoch": step / self.steps_per_epoch,
            "head": head,
            "loss": loss,
            "lr": lr,
        }
        if step % max(1, self.log_every) == 0 or step == 1:
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
        """An evaluation's metrics (nothing is written for an empty dict)."""
        if not self.enabled or not metrics:
            return
        self.file.write(json.dumps({"step": step, "eval": metrics}) + "\n")
        self.file.flush()
        if self.writer:
            for key, value in flatten_metrics(metrics).items():
                self.writer.add_scalar(f"eval/{key}", value, step)

    def close(self) -> None:
        for obj in (self.pbar, self.writer, self.file):
            if obj is not None:
                obj.close()


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"ava": {"mAP": 0.3}}`` → ``{"ava/mAP": 0.3}``; non-finite and non-numbers dropped."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(flatten_metrics(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out
