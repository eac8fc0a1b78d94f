"""Co-finetuning samplers: proportions, order, determinism, identical schedules across ranks."""

from __future__ import annotations

import numpy as np
import pytest

from training.samplers import CofinetuneSchedule


def test_weighted_sampler_draws_datasets_in_proportion_to_size():
    sizes = [6000, 3000, 1000]
    s = CofinetuneSchedule(sizes, global_batch_size=10, kind="weighted", seed=3)
    n = 5 * s.steps_per_epoch  # 5,000 steps
    counts = s.dataset_counts(n)
    p = np.array(sizes) / sum(sizes)
    # Binomial bound: each count within 5 standard deviations of its expectation.
    assert np.all(np.abs(counts - n * p) < 5 * np.sqrt(n * p * (1 - p)))


def test_epoch_is_the_sum_of_dataset_sizes():
    s = CofinetuneSchedule([300, 100], global_batch_size=8, kind="weighted")
    assert s.steps_per_epoch == 400 // 8


def test_alternating_is_round_robin():
    s = CofinetuneSchedule([50, 50, 50], global_batch_size=5, kind="alternating", seed=0)
    assert [s.dataset_at(i) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_sequential_runs_datasets_one_after_another_in_proportion():
    s = CofinetuneSchedule([60, 20], global_batch_size=4, kind="sequential")
    sched = s.epoch_schedule(0).tolist()
    assert sched == [0] * 15 + [1] * 5
    assert s.epoch_schedule(1).tolist() == sched  # every epoch again, optimiser carried


def test_schedule_is_deterministic_per_seed_and_epoch():
    a = CofinetuneSchedule([100, 50], 4, "weighted", seed=1)
    b = CofinetuneSchedule([100, 50], 4, "weighted", seed=1)
    c = CofinetuneSchedule([100, 50], 4, "weighted", seed=2)
    assert np.array_equal(a.epoch_schedule(3), b.epoch_schedule(3))
    assert not np.array_equal(a.epoch_schedule(3), c.epoch_schedule(3))
    assert not np.array_equal(a.epoch_schedule(0), a.epoch_schedule(1))
    assert [a.rank_batch(i).indices for i in range(90)] == [
        b.rank_batch(i).indices for i in range(90)
    ]


@pytest.mark.parametrize("kind", ["weighted", "alternating", "sequential"])
def test_ranks_share_the_dataset_and_split_the_global_batch(kind):
    s = CofinetuneSchedule([37, 23, 11], global_batch_size=6, kind=kind, seed=5)
    for step in range(0, 60):
        per_rank = [s.rank_batch(step, rank, 3) for rank in range(3)]
        assert len({b.dataset for b in per_rank}) == 1  # same head on every rank
        merged = sorted(i for b in per_rank for i in b.indices)
        assert merged == sorted(s.global_indices(step)[1].tolist())


def test_each_dataset_is_read_as_reshuffled_full_passes():
    s = CofinetuneSchedule([12, 8], global_batch_size=4, kind="alternating", seed=0)
    seen = [i for step in range(30) if s.dataset_at(step) == 0 for i in s.rank_batch(step).indices]
    assert sorted(seen[:12]) == list(range(12))  # first pass covers every sample once
    assert sorted(seen[12:24]) == list(range(12))
    assert seen[:12] != seen[12:24]  # and the next pass is reshuffled


def test_sampler_state_is_only_the_step():
    """A fresh schedule object reproduces any step (what exact resume relies on)."""
    s = CofinetuneSchedule([100, 40, 9], 4, "weighted", seed=7)
    later = [s.rank_batch(i) for i in range(200, 210)]
    fresh = CofinetuneSchedule([100, 40, 9], 4, "weighted", seed=7)
    assert [fresh.rank_batch(i) for i in range(200, 210)] == later


@pytest.mark.parametrize(
    "args,match",
    [
        (([10], 4, "random"), "sampler kind"),
        (([10, 0], 4, "weighted"), "at least one sample"),
        (([10], 0, "weighted"), "global_batch_size"),
    ],
)
def test_bad_schedules(args, match):
    with pytest.raises(ValueError, match=match):
        CofinetuneSchedule(*args)


def test_exact_quota_counts_do_not_depend_on_the_seed():
    sizes = [37, 23, 11]
    per_seed = []
    for seed in range(5):
        s = CofinetuneSchedule(sizes, 2, "weighted", seed, exact_quota=True)
        epoch = s.epoch_schedule(0)
        counts = np.bincount(epoch, minlength=3)
        share = np.array(sizes) / sum(sizes) * s.steps_per_epoch
        assert counts.sum() == s.steps_per_epoch
        assert np.all(np.abs(counts - share) < 1)  # exactly proportional, rounded
        per_seed.append((counts.tolist(), epoch.tolist()))
        # every epoch keeps the quota, in another order
        assert np.bincount(s.epoch_schedule(1), minlength=3).tolist() == counts.tolist()
        assert s.epoch_schedule(1).tolist() != epoch.tolist()
    assert len({tuple(c) for c, _ in per_seed}) == 1  # the same counts for every seed
    assert len({tuple(e) for _, e in per_seed}) == 5  # but seeded orders
    # a pure function of (seed, step): a fresh object gives the same datasets and indices
    a = CofinetuneSchedule(sizes, 2, "weighted", 3, exact_quota=True)
    b = CofinetuneSchedule(sizes, 2, "weighted", 3, exact_quota=True)
    for step in (0, 7, 40, 95):
        da, ia = a.global_indices(step)
        db, ib = b.global_indices(step)
        assert da == db and ia.tolist() == ib.tolist()


def test_exact_quota_is_only_for_weighted():
    with pytest.raises(ValueError, match="exact_quota applies to the weighted sampler"):
        CofinetuneSchedule([3, 3], 2, "alternating", exact_quota=True)
