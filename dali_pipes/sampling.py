"""Which samples form which batch in each epoch, on this rank: one plan, shared by both backends.

The order is a pure function of (seed, epoch), so a fresh loader told `set_epoch(e)` reproduces
epoch `e`, and the DALI and torchvision backends visit the same samples in the same batches.

Distributed training: one global permutation per epoch, padded (repeating at most one sample per
rank, as `DistributedSampler` does) or cut (`padding="drop"`) to a multiple of the number of
shards, then dealt out with stride `num_shards`. Every rank therefore sees a disjoint share, the
shares cover the dataset every epoch, and every rank runs the same number of batches - the
property that keeps DDP from hanging.

Each position also gets its own seed (from the global position), which drives the per-sample
augmentation parameters on both backends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PADDING = ("pad", "drop")


def fresh_seed() -> int:
    """A random 63-bit seed, for loaders built with `seed=None`."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def check_sharding(shard_id, num_shards, padding) -> None:
    if not (isinstance(num_shards, int) and num_shards >= 1):
        raise ValueError(f"num_shards must be a positive integer, got {num_shards!r}")
    if not (isinstance(shard_id, int) and 0 <= shard_id < num_shards):
        raise ValueError(f"shard_id must be an integer in [0, num_shards={num_shards}), got {shard_id!r}")
    if padding not in PADDING:
        raise ValueError(f"shard padding must be one of {PADDING}, got {padding!r}")


@dataclass(frozen=True)
class EpochPlan:
    num_samples: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    seed: int
    shard_id: int = 0
    num_shards: int = 1
    padding: str = "pad"

    def __post_init__(self):
        check_sharding(self.shard_id, self.num_shards, self.padding)
        if self.shard_size == 0:
            raise ValueError(f"{self.num_samples} samples cannot be dropped to an equal share for "
                             f"{self.num_shards} shards; use padding='pad'")

    @property
    def shard_size(self) -> int:
        """Samples per rank per epoch, before drop_last."""
        if self.padding == "pad":
            return math.ceil(self.num_samples / self.num_shards)
        return self.num_samples // self.num_shards

    def __len__(self) -> int:
        if self.drop_last:
            return self.shard_size // self.batch_size
        return math.ceil(self.shard_size / self.batch_size)

    @property
    def samples_per_epoch(self) -> int:
        return min(self.shard_size, len(self) * self.batch_size)

    def _global_order(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples) if self.shuffle \
            else np.arange(self.num_samples)
        total = self.shard_size * self.num_shards
        if total > self.num_samples:  # pad by repeating the first samples of the order
            order = np.concatenate([order, order[: total - self.num_samples]])
        return order[:total]

    def _mine(self, values: np.ndarray) -> np.ndarray:
        return values[self.shard_id:: self.num_shards][: self.samples_per_epoch]

    def order(self, epoch: int) -> np.ndarray:
        """This rank's sample indices of `epoch` in visiting order (without what drop_last leaves out)."""
        return self._mine(self._global_order(epoch))

    def sample_seeds(self, epoch: int) -> np.ndarray:
        """One augmentation seed per position of this rank's epoch (keyed by the global position)."""
        total = self.shard_size * self.num_shards
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**63 - 1, size=total, dtype=np.int64)
        return self._mine(seeds)

    @property
    def num_padded(self) -> int:
        """How many of this rank's samples per epoch are padding repeats: always the last ones."""
        positions = np.arange(self.shard_size * self.num_shards)
        return int((self._mine(positions) >= self.num_samples).sum())

    def batches(self, epoch: int) -> list[np.ndarray]:
        return self._split(self.order(epoch))

    def batch_seeds(self, epoch: int) -> list[np.ndarray]:
        """The augmentation seeds of `batches(epoch)`, batch by batch, sample by sample."""
        return self._split(self.sample_seeds(epoch))

    def _split(self, values: np.ndarray) -> list[np.ndarray]:
        return [values[i : i + self.batch_size] for i in range(0, len(values), self.batch_size)]
