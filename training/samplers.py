"""Co-finetuning samplers (paper §3.2): every minibatch comes from ONE dataset.

Everything here is a pure function of ``(seed, step)``, which gives three properties:

* **same dataset on every rank**: the schedule depends only on the shared seed, so all
  DDP ranks run the same head at the same step (otherwise the gradient all-reduce would
  mix different heads' graphs, or hang);
* **sharding**: each rank takes its own slice ``[rank::world_size]`` of the global batch;
* **exact resume**: the sampler's whole state is the step counter.

An epoch is the sum of the datasets' sizes: ``steps_per_epoch = Σ size // global_batch``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CofinetuneSchedule", "StepBatch", "SAMPLERS"]

SAMPLERS = ("weighted", "alternating", "sequential")


@dataclass(frozen=True)
class StepBatch:
    """One optimiser step: which dataset, and this rank's sample indices into it."""

    step: int
    dataset: int
    indices: tuple[int, ...]


class CofinetuneSchedule:
    """The dataset schedule and the per-dataset sample order for co-finetuning.

    Args:
        sizes: number of samples per dataset (in config order).
        global_batch_size: samples per optimiser step, summed over ranks.
        kind: ``"weighted"`` (dataset drawn with probability ∝ size, the paper's default),
            ``"alternating"`` (round robin), ``"sequential"`` (datasets one after another each
            epoch: traditional transfer learning with the optimiser state carried over).
        seed: shared by all ranks.
        exact_quota: ``"weighted"`` only: instead of drawing each step's dataset
            independently, every epoch is a seeded shuffle of exactly size-proportional
            step counts (largest-remainder rounding), so per-dataset step counts no longer
            vary with the seed. Still a pure function of ``(seed, step)``.

    Example:
        >>> s = CofinetuneSchedule([300, 100], global_batch_size=4, kind="alternating", seed=0)
        >>> s.steps_per_epoch, [s.dataset_at(i) for i in range(4)]
        (100, [0, 1, 0, 1])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        global_batch_size: int,
        kind: str = "weighted",
        seed: int = 0,
        *,
        exact_quota: bool = False,
    ) -> None:
        if kind not in SAMPLERS:
            raise ValueError(f"sampler kind must be one of {SAMPLERS}, got {kind!r}")
        self.sizes = [int(s) for s in sizes]
        if not self.sizes or min(self.sizes) <= 0:
            raise ValueError(f"every dataset needs at least one sample, got sizes {self.sizes}")
        if global_batch_size < 1:
            raise ValueError(f"global_batch_size must be >= 1, got {global_batch_size}")
        self.global_batch_size = global_batch_size
        if exact_quota and kind != "weighted":
            raise ValueError(f"exact_quota applies to the weighted sampler, not {kind!r}")
        self.kind, self.seed, self.exact_quota = kind, seed, exact_quota
        self.steps_per_epoch = max(1, sum(self.sizes) // global_batch_size)
        self._epoch_cache: dict[int, np.ndarray] = {}
        self._cumulative: list[np.ndarray] = [np.zeros(len(self.sizes), dtype=np.int64)]

    # --------------------------------------------------------------- which dataset
    def epoch_schedule(self, epoch: int) -> np.ndarray:
        """Dataset index of every step of ``epoch`` (``int64[steps_per_epoch]``)."""
        if epoch not in self._epoch_cache:
            self._epoch_cache = {epoch: self._make_epoch(epoch)}  # keep one epoch in memory
        return self._epoch_cache[epoch]

    def _make_epoch(self, epoch: int) -> np.ndarray:
        n, k = self.steps_per_epoch, len(self.sizes)
        if self.kind == "alternating":
            return np.arange(n, dtype=np.int64) % k
        if self.kind == "sequential":  # datasets in config order
            return np.repeat(np.arange(k, dtype=np.int64), self._quota())
        rng = np.random.default_rng([self.seed, epoch, 0xC0F1])
        if self.exact_quota:
            return rng.permutation(np.repeat(np.arange(k, dtype=np.int64), self._quota()))
        p = np.asarray(self.sizes, dtype=np.float64) / sum(self.sizes)
        return rng.choice(k, size=n, p=p).astype(np.int64)

    def _quota(self) -> np.ndarray:
        """Steps per dataset in one epoch, proportional to size (largest remainder rounding)."""
        n = self.steps_per_epoch
        share = np.asarray(self.sizes, dtype=np.float64) / sum(self.sizes) * n
        counts = np.floor(share).astype(np.int64)
        counts[np.argsort(counts - share, kind="stable")[: n - counts.sum()]] += 1
        return counts

    def dataset_at(self, step: int) -> int:
        epoch, offset = divmod(step, self.steps_per_epoch)
        return int(self.epoch_schedule(epoch)[offset])

    # --------------------------------------------------------------- which samples
    def _sample_order(self, dataset: int, cycle: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, dataset, cycle, 0x5A3])
        return rng.permutation(self.sizes[dataset])

    def global_indices(self, step: int) -> tuple[int, np.ndarray]:
        """``(dataset, indices[global_batch_size])`` of ``step``, identical on every rank.

        Each dataset is read as an endless stream of reshuffled passes ("cycles") over it.
        """
        dataset = self.dataset_at(step)
        start = self._stream_position(step, dataset)
        positions = np.arange(start, start + self.global_batch_size)
        size = self.sizes[dataset]
        cycles, within = np.divmod(positions, size)
        out = np.empty_like(positions)
        for cycle in np.unique(cycles):
            mask = cycles == cycle
            out[mask] = self._sample_order(dataset, int(cycle))[within[mask]]
        return dataset, out

    def _stream_position(self, step: int, dataset: int) -> int:
        epoch, offset = divmod(step, self.steps_per_epoch)
        in_epoch = int((self.epoch_schedule(epoch)[:offset] == dataset).sum())
        before = self._steps_in_epochs(epoch, dataset)
        return (before + in_epoch) * self.global_batch_size

    def _steps_in_epochs(self, epochs: int, dataset: int) -> int:
        """Steps that used ``dataset`` in epochs ``0 .. epochs-1``."""
        while len(self._cumulative) <= epochs:  # cumulative per-dataset step counts by epoch
            e = len(self._cumulative) - 1
            counts = np.bincount(self._make_epoch(e), minlength=len(self.sizes))
            self._cumulative.append(self._cumulative[-1] + counts)
        return int(self._cumulative[epochs][dataset])

    def rank_batch(self, step: int, rank: int = 0, world_size: int = 1) -> StepBatch:
        """This rank's share (``[rank::world_size]``) of step ``step``'s global batch."""
        dataset, indices = self.global_indices(step)
        return StepBatch(step, dataset, tuple(int(i) for i in indices[rank::world_size]))

    def iter_batches(
        self, start_step: int, end_step: int, rank: int = 0, world_size: int = 1
    ) -> Iterator[StepBatch]:
        for step in range(start_step, end_step):
            yield self.rank_batch(step, rank, world_size)

    def dataset_counts(self, num_steps: int) -> np.ndarray:
        """How many of the first ``num_steps`` steps used each dataset."""
        counts = np.zeros(len(self.sizes), dtype=np.int64)
        for epoch in range(-(-num_steps // self.steps_per_epoch)):
            sched = self.epoch_schedule(epoch)[: num_steps - epoch * self.steps_per_epoch]
            counts += np.bincount(sched, minlength=len(self.sizes))
        return counts
