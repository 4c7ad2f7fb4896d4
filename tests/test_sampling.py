"""The epoch plan: batches partition the epoch; order depends on (seed, epoch) only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dali_pipes.sampling import EpochPlan, fresh_seed


@pytest.mark.parametrize("n, b, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0),
])
def test_len_is_ceil_or_floor(n, b, drop_last, expected):
    plan = EpochPlan(n, b, shuffle=True, drop_last=drop_last, seed=0)
    assert len(plan) == expected == len(plan.batches(0))


def test_batches_partition_a_permutation():
    plan = EpochPlan(103, 10, shuffle=True, drop_last=False, seed=4)
    flat = np.concatenate(plan.batches(5))
    assert sorted(flat.tolist()) == list(range(103))
    assert [len(b) for b in plan.batches(5)] == [10] * 10 + [3]


def test_drop_last_leaves_out_only_the_tail():
    plan = EpochPlan(103, 10, shuffle=True, drop_last=True, seed=4)
    full = EpochPlan(103, 10, shuffle=True, drop_last=False, seed=4)
    assert np.array_equal(plan.order(2), full.order(2)[:100])


def test_unshuffled_order_is_the_index_order():
    plan = EpochPlan(7, 3, shuffle=False, drop_last=False, seed=9)
    assert plan.order(0).tolist() == plan.order(3).tolist() == list(range(7))


def test_order_depends_on_seed_and_epoch_only():
    a = EpochPlan(50, 8, shuffle=True, drop_last=False, seed=1)
    b = EpochPlan(50, 8, shuffle=True, drop_last=False, seed=1)
    c = EpochPlan(50, 8, shuffle=True, drop_last=False, seed=2)
    assert np.array_equal(a.order(3), b.order(3))
    assert not np.array_equal(a.order(3), a.order(4))
    assert not np.array_equal(a.order(3), c.order(3))
    assert np.array_equal(a.sample_seeds(3), b.sample_seeds(3))
    assert not np.array_equal(a.sample_seeds(3), a.sample_seeds(4))


def test_shuffle_is_uniform_enough():
    """Position of sample 0 over 4,000 epochs: chi-square against uniform on 10 positions."""
    plan = EpochPlan(10, 10, shuffle=True, drop_last=False, seed=0)
    counts = np.bincount([int(np.argmax(plan.order(e) == 0)) for e in range(4000)], minlength=10)
    chi2 = float(((counts - 400) ** 2 / 400).sum())
    assert chi2 < 27.88  # the 0.999 quantile of chi-square with 9 degrees of freedom


def test_fresh_seeds_are_non_negative_and_differ():
    seeds = {fresh_seed() for _ in range(5)}
    assert len(seeds) == 5 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("n, shards, repeats", [(24, 2, 3), (300, 2, 3), (1000, 4, 3), (50, 3, 2.5), (23, 2, 1)])
def test_repeated_augmentation_deals_out_what_timms_repeat_aug_sampler_does(n, shards, repeats):
    """Unshuffled, each rank's share is RepeatAugSampler's, index for index (its selection rule, its
    wrap-around); shuffled, a sample's consecutive copies go to different ranks, every position has
    its own augmentation seed, and every rank runs the same number of batches."""
    timm_sampler = pytest.importorskip("timm.data.distributed_sampler", reason="the test extra installs timm")
    for rank in range(shards):
        theirs = list(timm_sampler.RepeatAugSampler(list(range(n)), num_replicas=shards, rank=rank, shuffle=False,
                                                    num_repeats=repeats))
        plan = EpochPlan(n, 4, False, False, 0, rank, shards, repeats=repeats)
        assert plan.order(0).tolist() == theirs
    plans = [EpochPlan(n, 4, True, True, 9, rank, shards, repeats=repeats) for rank in range(shards)]
    assert len({len(p) for p in plans}) == 1
    seeds = np.concatenate([p.sample_seeds(1) for p in plans])
    assert len(set(seeds.tolist())) == len(seeds)
    if repeats == 3 and n >= shards * 3:
        first = [p.order(1)[0] for p in plans]  # the head of the sequence: one sample's copies, dealt out
        assert len(set(first)) <= math.ceil(shards / 3)


def test_repeats_are_checked():
    for bad in (0.5, -1, True, "3"):
        with pytest.raises(ValueError, match="repeats"):
            EpochPlan(10, 2, True, False, 0, repeats=bad)
