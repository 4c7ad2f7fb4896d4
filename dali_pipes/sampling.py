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
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Sequence

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

    def num_batches(self, epoch: int) -> int:
        """Batches of `epoch` (the same every epoch here; a ScheduledPlan's choices vary)."""
        return len(self)

    def with_seed(self, seed: int) -> "EpochPlan":
        return replace(self, seed=seed)

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


@dataclass(frozen=True)
class RowGroupPlan(EpochPlan):
    """An EpochPlan for sources stored in row groups (parquet): `groups` holds each row group's row
    count, in index order. The global sequence is the row groups in a (seed, epoch) permutation
    (stored order without shuffle), padded or cut as EpochPlan's; each rank takes a contiguous
    range of it, so it reads only the row groups of its range (two ranks share at most a boundary
    group), and shuffles its samples within runs of `window` consecutive row groups. Every rank
    runs the same number of batches; padding stays the last samples of the last ranks."""

    groups: tuple[int, ...] = ()
    window: int = 16

    def __post_init__(self):
        super().__post_init__()
        if sum(self.groups) != self.num_samples:
            raise ValueError(f"row groups of {sum(self.groups)} rows for {self.num_samples} samples")
        if self.repeats:
            raise ValueError("repeated augmentation deals each sample's copies to different ranks, which "
                             "reading row groups by rank cannot: use an EpochPlan")
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ValueError(f"window: a positive number of row groups, got {self.window!r}")

    @classmethod
    def of(cls, plan: EpochPlan, groups: tuple[int, ...], window: int) -> "RowGroupPlan":
        """`plan`'s settings over these row groups."""
        return cls(**{f.name: getattr(plan, f.name) for f in fields(EpochPlan)}, groups=tuple(groups), window=window)

    @property
    def _starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.groups)]).astype(np.int64)

    def _global_order(self, epoch: int) -> np.ndarray:
        starts = self._starts
        visit = np.random.default_rng([self.seed, epoch, 7]).permutation(len(self.groups)) if self.shuffle \
            else np.arange(len(self.groups))
        order = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in visit])
        total = self._total
        if total > self.num_samples:
            order = np.concatenate([order, order[: total - self.num_samples]])
        return order[:total]

    def _mine(self, values: np.ndarray) -> np.ndarray:
        share = self.shard_size
        return values[self.shard_id * share: (self.shard_id + 1) * share][: self.samples_per_epoch]

    def order(self, epoch: int) -> np.ndarray:
        mine = self._mine(self._global_order(epoch))
        if not self.shuffle:
            return mine
        real = len(mine) - self.num_padded
        group = np.searchsorted(self._starts, mine[:real], side="right") - 1
        run = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1  # the k-th row group this rank visits
        keys = np.random.default_rng([self.seed, epoch, 8, self.shard_id]).random(real)
        return np.concatenate([mine[:real][np.lexsort((keys, run // self.window))], mine[real:]])


# (epoch, positions in this rank's order) -> the epoch's batches as (choice, positions); positions
# past the order's end cycle through it again (a schedule of a fixed number of batches)
BatchShapes = Callable[[int, int], Sequence[tuple[int, np.ndarray]]]


@dataclass(frozen=True)
class ScheduledPlan:
    """Batches of varying size, each tagged with one of several choices (an input size, as timm's
    `input_size_choices`): `shapes` says which positions of this rank's order form each batch and
    its choice; `base` gives the order and the per-sample seeds (its own batching is unused).

    Each choice is run by a loader of its own over `choice(k)`; the scheduled loader interleaves
    them in the schedule's order. Positions cycled past the order's end (a pass `q >= 1`) visit a
    fresh permutation of the same share with fresh seeds: no sample is augmented twice alike."""

    base: EpochPlan
    batch_sizes: tuple[int, ...]
    shapes: BatchShapes
    # epoch -> what is derived from its schedule, computed once: every choice's loader asks for it
    # when its epoch starts and after every batch (a copy by `replace` starts empty)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _epoch(self, epoch: int) -> dict:
        if epoch not in self._memo:
            if len(self._memo) >= 4:  # the current epoch and the few a sampler may look at
                self._memo.pop(next(iter(self._memo)))
            shapes = self.shapes(epoch, self.base.samples_per_epoch)
            choices = [int(choice) for choice, _ in shapes]
            self._memo[epoch] = {"shapes": shapes, "choices": choices, "counts": Counter(choices)}
        return self._memo[epoch]

    def epoch_batches(self, epoch: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(choice, sample indices, augmentation seeds) of every batch of `epoch`, in order."""
        memo = self._epoch(epoch)
        if "batches" not in memo:
            memo["batches"] = self._batches(epoch, memo["shapes"])
        return memo["batches"]

    def _batches(self, epoch: int, shapes) -> list[tuple[int, np.ndarray, np.ndarray]]:
        order, seeds = self.base.order(epoch), self.base.sample_seeds(epoch)
        n = len(order)
        out = []
        for choice, positions in shapes:
            positions = np.asarray(positions, dtype=np.int64)
            indices, batch_seeds = order[positions % n], seeds[positions % n]
            for q in np.unique(positions // n):
                if q == 0:
                    continue
                rng = np.random.default_rng([self.base.seed, epoch, 5, int(q)])
                perm, fresh = rng.permutation(n), rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
                cycled = positions // n == q
                indices[cycled] = order[perm[positions[cycled] % n]]
                batch_seeds[cycled] = fresh[perm[positions[cycled] % n]]
            out.append((int(choice), indices, batch_seeds))
        return out

    def choices(self, epoch: int) -> list[int]:
        return self._epoch(epoch)["choices"]

    def count(self, epoch: int, k: int) -> int:
        """Batches of choice `k` in `epoch`."""
        return self._epoch(epoch)["counts"][k]

    def choice(self, k: int) -> "ChoicePlan":
        return ChoicePlan(self, k)

    def with_seed(self, seed: int) -> "ScheduledPlan":
        return replace(self, base=self.base.with_seed(seed))


@dataclass(frozen=True)
class ChoicePlan:
    """One choice's share of a ScheduledPlan: the plan a choice's loader runs (the batches of that
    choice, in schedule order). Its seed, for the loader's batch-level draws (MixUp, erasing), is
    derived per choice so that two choices' batch `i` do not draw alike."""

    parent: ScheduledPlan
    k: int

    @property
    def batch_size(self) -> int:
        return self.parent.batch_sizes[self.k]

    @property
    def seed(self) -> int:
        return int(np.random.SeedSequence([self.parent.base.seed, 7, self.k]).generate_state(2, np.uint64)[0] >> 1)

    @property
    def shard_id(self):
        return self.parent.base.shard_id

    @property
    def num_shards(self):
        return self.parent.base.num_shards

    @property
    def padding(self):
        return self.parent.base.padding

    @property
    def shuffle(self):
        return self.parent.base.shuffle

    @property
    def repeats(self):
        return self.parent.base.repeats

    drop_last = False  # the schedule decides every batch's size
    num_padded = 0

    def _mine(self, epoch: int):
        return [(indices, seeds) for choice, indices, seeds in self.parent.epoch_batches(epoch) if choice == self.k]

    def batches(self, epoch: int) -> list[np.ndarray]:
        return [indices for indices, _ in self._mine(epoch)]

    def batch_seeds(self, epoch: int) -> list[np.ndarray]:
        return [seeds for _, seeds in self._mine(epoch)]

    def order(self, epoch: int) -> np.ndarray:
        batches = self.batches(epoch)
        return np.concatenate(batches) if batches else np.zeros(0, np.int64)

    def num_batches(self, epoch: int) -> int:
        return self.parent.count(epoch, self.k)

    def __len__(self) -> int:  # the DataLoader surface of a choice's own loader (epoch 0's count)
        return self.num_batches(0)

    @property
    def samples_per_epoch(self) -> int:
        return len(self.order(0))

    def with_seed(self, seed: int) -> "ChoicePlan":
        return replace(self, parent=self.parent.with_seed(seed))
