"""Which samples form which batch in each epoch: one plan, shared by both backends.

The order is a pure function of (seed, epoch), so a fresh loader told `set_epoch(e)` reproduces
epoch `e`, and the DALI and torchvision backends visit the same samples in the same batches.
Each position also gets its own seed, which the torchvision backend uses for augmentation so
that its output does not depend on the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def fresh_seed() -> int:
    """A random 63-bit seed, for loaders built with `seed=None`."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class EpochPlan:
    num_samples: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    seed: int

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def samples_per_epoch(self) -> int:
        return min(self.num_samples, len(self) * self.batch_size)

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch])

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices of `epoch` in visiting order, without the samples `drop_last` leaves out."""
        if self.shuffle:
            order = self._rng(epoch).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        return order[: self.samples_per_epoch]

    def sample_seeds(self, epoch: int) -> np.ndarray:
        """One augmentation seed per position of `epoch` (independent of the shuffle stream)."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        return rng.integers(0, 2**63 - 1, size=self.samples_per_epoch, dtype=np.int64)

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = self.order(epoch)
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
