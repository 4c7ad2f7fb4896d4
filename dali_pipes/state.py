"""Where a loader stands, in one object that the loader and its engine both read: the epoch plan
(and so the seed), the epoch the next `iter()` runs, the batch it resumes at, and the position of
the latest batch handed out. Nothing copies these: adopting a checkpoint's seed replaces the plan
here, and the engine reads the new one when its next epoch starts."""

from __future__ import annotations

import numpy as np

from .sampling import EpochPlan


class LoaderState:
    def __init__(self, plan: EpochPlan, *, seed_was_drawn: bool = False):
        self.plan = plan
        self.seed_was_drawn = seed_was_drawn  # seed=None: a checkpoint's seed may replace it
        self.epoch = 0  # the epoch the next iter() runs
        self.resume_from = 0  # ... starting at this batch (after a restore)
        self.position = (0, 0)  # (epoch, batches done) of the latest batch handed out
        self.started = False  # whether an epoch has begun since construction or the last restore

    @property
    def seed(self) -> int:
        return self.plan.seed

    @property
    def engine_seed(self) -> int:
        """The seed of the engine's own random ops, distinct per shard so ranks do not correlate."""
        return int(np.random.SeedSequence([self.plan.seed, self.plan.shard_id]).generate_state(1)[0])

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.resume_from = 0
        self.epoch = epoch

    def begin_epoch(self) -> tuple[int, int]:
        """(epoch, first batch) of the epoch starting now; the next iter() runs the one after."""
        epoch, first, self.resume_from = self.epoch, self.resume_from, 0
        self.epoch = epoch + 1  # a loop without set_epoch still gets a new order every epoch
        self.position = (epoch, first)
        self.started = True
        return epoch, first

    def delivered(self, epoch: int, batch_index: int) -> None:
        """Plan batch `batch_index` of `epoch` was handed out (skipped batches count too)."""
        self.position = (epoch, batch_index + 1) if batch_index + 1 < self.plan.num_batches(epoch) else (epoch + 1, 0)

    def ended(self, epoch: int) -> None:
        self.position = (epoch + 1, 0)

    def saved(self) -> tuple[int, int]:
        """(epoch, batches done) that a checkpoint records."""
        epoch, done = self.position if self.started else (self.epoch, self.resume_from)
        return (epoch + 1, 0) if done >= self.plan.num_batches(epoch) else (epoch, done)

    def restore(self, epoch: int, batches_done: int) -> None:
        self.epoch, self.resume_from, self.started = epoch, batches_done, False

    def adopt_seed(self, seed: int) -> None:
        self.plan = self.plan.with_seed(seed)
