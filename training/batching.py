"""From the co-finetuning schedule to this rank's micro-batches, each sample seeded by its slot.

A step's global batch comes from one dataset (:class:`~training.samplers.CofinetuneSchedule`);
each rank takes every ``world_size``-th slot of it and splits its share into micro-batches
(gradient accumulation). A sample's augmentation seed depends only on (run seed, step,
slot), so a run is the same for any world size, worker count or resumption.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from training.distributed import DistContext
from training.samplers import CofinetuneSchedule

__all__ = ["MicroBatches", "Samples", "collate_micro_batch", "sample_seed"]


def sample_seed(run_seed: int, step: int, slot: int) -> int:
    """Augmentation seed of one sample: a function of its place in the global batch only,
    so results do not depend on world size, worker count or resumption."""
    return int(np.random.SeedSequence([run_seed, step, slot]).generate_state(1)[0])


class Samples(Dataset):
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


class MicroBatches(Sampler):
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

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start, self.end):
            dataset, indices = self.schedule.global_indices(step)
            slots = np.arange(self.ctx.rank, len(indices), self.ctx.world_size)  # this rank's shard
            for i in range(0, len(slots), self.micro):
                yield [
                    (dataset, int(indices[s]), sample_seed(self.seed, step, int(s)))
                    for s in slots[i : i + self.micro]
                ]


def collate_micro_batch(items: list[tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    """``[(dataset, sample), ...]`` of one dataset → ``(dataset, batch)``."""
    from training.data import collate_classification, collate_detection

    dataset = items[0][0]
    samples = [s for _, s in items]
    return dataset, collate_detection(samples) if "boxes" in samples[0] else collate_classification(
        samples
    )
