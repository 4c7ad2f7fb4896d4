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

Repeated augmentation (`repeats`, DeiT's `--aug-repeats 3`, timm's RepeatAugSampler): each sample
of the permutation is repeated `repeats` times in a row, the sequence dealt out with stride
`num_shards` (so a sample's copies land on different ranks, each with its own position's seed:
different augmentations), and each rank takes as many as RepeatAugSampler selects: of datasets of
256 samples or more, floor(N // 256 * 256 / shards), else ceil(N / shards).
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
    repeats: float = 0  # repeated augmentation: 0 off, else each sample this many times (timm's num_aug_repeats)

    def __post_init__(self):
        check_sharding(self.shard_id, self.num_shards, self.padding)
        if not (isinstance(self.repeats, (int, float)) and not isinstance(self.repeats, bool) and
                (self.repeats == 0 or self.repeats >= 1)):
            raise ValueError(f"repeats (repeated augmentation) must be 0 (off) or >= 1, got {self.repeats!r}")
        if self.shard_size == 0:
            raise ValueError(f"{self.num_samples} samples cannot be dropped to an equal share for "
                             f"{self.num_shards} shards; use padding='pad'")

    @property
    def shard_size(self) -> int:
        """Samples per rank per epoch, before drop_last."""
        if self.repeats:  # RepeatAugSampler's num_selected_samples
            n = self.num_samples
            selected = n // 256 * 256 // self.num_shards if n >= 256 else math.ceil(n / self.num_shards)
            return min(selected, self._total // self.num_shards)
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

    @property
    def _total(self) -> int:
        """Positions of the global sequence of one epoch (every rank's share together)."""
        if self.repeats:
            return math.ceil(self.num_samples * self.repeats / self.num_shards) * self.num_shards
        return self.shard_size * self.num_shards

    def _global_order(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples) if self.shuffle \
            else np.arange(self.num_samples)
        if self.repeats:  # each sample `repeats` times in a row, wrapped around to the total
            copies = np.floor(np.arange(math.ceil(self.repeats * self.num_samples)) / self.repeats).astype(np.int64)
            repeated = order[copies]
            return repeated[np.arange(self._total) % len(repeated)]
        total = self._total
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
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(0, 2**63 - 1, size=self._total, dtype=np.int64)
        return self._mine(seeds)

    @property
    def num_padded(self) -> int:
        """How many of this rank's samples per epoch are padding repeats: always the last ones."""
        if self.repeats:  # repeats are the point, not padding
            return 0
        positions = np.arange(self._total)
        return int((self._mine(positions) >= self.num_samples).sum())

    def batches(self, epoch: int) -> list[np.ndarray]:
        return self._split(self.order(epoch))

    def batch_seeds(self, epoch: int) -> list[np.ndarray]:
        """The augmentation seeds of `batches(epoch)`, batch by batch, sample by sample."""
        return self._split(self.sample_seeds(epoch))

    def _split(self, values: np.ndarray) -> list[np.ndarray]:
        return [values[i : i + self.batch_size] for i in range(0, len(values), self.batch_size)]
