"""The part of the loader that is the same for every backend: the DataLoader-like surface.

Epoch accounting lives here once: which epoch the next `iter()` runs, `set_epoch`, `len`, closing,
and superseding an iterator that was abandoned mid-epoch. A backend only says how to run one epoch
of a plan (`_run_epoch`) and how to let go of an unfinished one (`_abandon`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import warnings
import weakref
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from .config import Preprocess
from .erasing import random_erasing
from .sampling import EpochPlan

log = logging.getLogger("dali_pipes")

STATE_FORMAT = "dali-pipes/loader-state/v1"

_LIVE_LOADERS: "weakref.WeakSet[LoaderBase]" = weakref.WeakSet()


@atexit.register
def _close_live_loaders(_live=_LIVE_LOADERS) -> None:
    """At exit, while every module is still whole: end open epochs and stop engines and workers
    of loaders nobody closed (later, in module teardown, their finalizers would find globals gone)."""
    for loader in list(_live):
        with contextlib.suppress(Exception):  # exiting anyway: one that cannot close must not stop the others
            loader.close()


class SkippedImageWarning(UserWarning):
    """An unreadable image was left out of its batch (make_loader(on_error="skip"))."""

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    return _TORCH_DTYPES[name]


class LoaderBase:
    """Iterate for `(images, labels)`; iterate again for the next epoch."""

    backend: str

    def __init__(self, source, preprocess: Preprocess, plan: EpochPlan, train: bool, device: torch.device,
                 mix=None, on_error: str = "raise"):
        self.dataset = source
        self.mix = mix
        self.on_error = on_error
        self.skipped: dict[str, str] = {}  # every unreadable image met so far (on_error="skip"): name -> why
        self.skipped_last_epoch = 0
        self.preprocess = preprocess
        self.plan = plan
        self.train = train
        self.device = device
        self.batch_size = plan.batch_size
        self.drop_last = plan.drop_last
        self.seed = plan.seed
        self._seed_was_drawn = False  # set by make_loader when seed=None
        self._epoch = 0  # the epoch the next iter() runs
        self._resume_from = 0  # ... starting at this batch (after load_state_dict)
        self._position = (0, 0)  # (epoch, batches delivered) of the latest batch handed out
        self._started = False  # whether any epoch has begun since construction or load_state_dict
        self._generation = 0
        self._running = False
        self._closed = False
        self._active: weakref.ref | None = None  # the latest iterator handed out
        _LIVE_LOADERS.add(self)
        self._sampler_view = PlanSampler(self)
        self._batch_sampler_view = PlanBatchSampler(self, self._sampler_view)

    # -- the DataLoader surface -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.plan)

    @property
    def shard_id(self) -> int:
        return self.plan.shard_id

    @property
    def num_shards(self) -> int:
        return self.plan.num_shards

    @property
    def num_padded(self) -> int:
        """How many of this rank's last samples in each epoch repeat others (distributed padding):
        drop them from the final batch to count every sample exactly once across ranks."""
        return self.plan.num_padded

    @property
    def engine_seed(self) -> int:
        """The seed of the engine's own random ops, distinct per shard so ranks do not correlate."""
        return int(np.random.SeedSequence([self.seed, self.plan.shard_id]).generate_state(1)[0])

    @property
    def epoch(self) -> int:
        """The epoch that the next `iter(loader)` runs."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration runs; its order depends only on (seed, epoch)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        if epoch != self._epoch:
            self._resume_from = 0
        self._epoch = epoch

    @property
    def sampler(self) -> "PlanSampler":
        """The order of the next epoch; `loader.sampler.set_epoch(epoch)` is `loader.set_epoch(epoch)`."""
        return self._sampler_view

    @property
    def batch_sampler(self) -> "PlanBatchSampler":
        """The next epoch's batches of sample indices (what Lightning inspects to tell a shuffling loader)."""
        return self._batch_sampler_view

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._closed:
            raise RuntimeError("this loader is closed")
        self._generation += 1  # an older iterator stops at its next pull
        iterator = self._epoch_iterator(self._generation)
        self._active = weakref.ref(iterator)
        return iterator

    def _epoch_iterator(self, generation: int):
        """One epoch. Nothing changes until the first `next()`: an iterator dropped unstarted leaves
        the epoch, the resume position and a `set_epoch` made after `iter()` as they were."""
        if generation != self._generation:
            raise RuntimeError("this iterator was replaced by a newer iter(loader)")
        if self._running:
            self._abandon()
            self._running = False
        epoch, first, self._resume_from = self._epoch, self._resume_from, 0
        self._running = True
        self._epoch = epoch + 1  # a loop without set_epoch still gets a new order every epoch
        self._position = (epoch, first)
        self._started = True
        self._epoch_skips: set[str] = set()
        batches = self._run_epoch(epoch, first)
        try:
            while True:
                if generation != self._generation:  # checked before pulling: never steal a newer epoch's batch
                    raise RuntimeError("this iterator was replaced by a newer iter(loader)")
                try:
                    index, images, labels = next(batches)
                except StopIteration:
                    break
                batch = self._batch_ops(images, labels, epoch, index)
                self._position = (epoch, index + 1)  # the plan's position: skipped batches count too
                if index + 1 == len(self.plan):
                    # the last batch: let the engine close its epoch first, so that a state taken
                    # after it (a loop that breaks there) already points at the next epoch
                    for _ in batches:
                        raise RuntimeError("the engine produced more batches than the epoch plan holds")
                    self._running = False
                    self._position = (epoch + 1, 0)
                yield batch
            if generation == self._generation:
                self._running = False
                self._position = (epoch + 1, 0)
                self._report_skips(epoch)
        finally:
            batches.close()  # now, not in a garbage collection at interpreter exit

    def _note_skipped(self, where: str, reason: str) -> None:
        """An unreadable sample was left out (on_error="skip"): warn once per image, count per epoch."""
        if where not in self.skipped:
            warnings.warn(f"skipping unreadable image {where}: {reason}", SkippedImageWarning, stacklevel=2)
            self.skipped[where] = reason
        self._epoch_skips.add(where)

    def _report_skips(self, epoch: int) -> None:
        self.skipped_last_epoch = len(self._epoch_skips)
        if self._epoch_skips:
            message = (f"epoch {epoch}: {len(self._epoch_skips)} unreadable image(s) left out "
                       f"(loader.skipped lists them); {len(self.dataset)} samples in the dataset")
            log.warning("dali-pipes: %s", message)
            warnings.warn(message, SkippedImageWarning, stacklevel=2)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            iterator = self._active() if self._active is not None else None
            if iterator is not None and iterator.gi_frame is not None and not iterator.gi_running:
                iterator.close()  # its epoch ends here, not in a garbage collection later
            self._running = False
            self._release()
            close_reads = getattr(self.dataset, "close_reads", None)
            if close_reads is not None:  # a remote source's read-ahead threads
                close_reads()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # a finalizer must not raise, and may run after this module's globals are gone (no contextlib)
        try:
            self.close()
        except Exception:  # noqa: S110
            pass

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(backend={self.backend!r}, samples={len(self.dataset)}, "
                f"batch_size={self.batch_size}, batches={len(self)}, train={self.train})")

    def _batch_ops(self, images: torch.Tensor, labels: torch.Tensor, epoch: int, index: int):
        """Batch-level augmentation, shared by the backends: random erasing, then MixUp/CutMix.
        Their random numbers come from (seed, epoch, batch index), so a resumed run repeats them."""
        erasing = self.preprocess.train.random_erasing if self.train else None
        if erasing is None and self.mix is None:
            return images, labels
        rng = np.random.default_rng([self.seed, epoch, index, 2, self.plan.shard_id])
        if erasing is not None:
            images = random_erasing(images, erasing, rng)
        if self.mix is not None:
            images, labels = self.mix(images, labels, rng)
        return self._in_layout(images), labels

    def _in_layout(self, images: torch.Tensor) -> torch.Tensor:
        """NHWC memory when `normalize.channels_last` (the logical shape stays (B, 3, H, W)); a no-op
        for a batch already in it."""
        if self.preprocess.normalize.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    # -- resume ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where the loader stands: a plain picklable dict for a training checkpoint (`torch.save`).

        A fresh loader built with the same arguments and given this state by `load_state_dict`
        continues with exactly the batches the uninterrupted run would have produced next.
        """
        epoch, done = self._position if self._started else (self._epoch, self._resume_from)
        if done >= len(self):
            epoch, done = epoch + 1, 0
        state = {"format": STATE_FORMAT, "backend": self.backend, "seed": self.seed, "epoch": epoch,
                 "batches_done": done, "signature": self._signature()}
        state.update(self._engine_state())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`; refuses a state from another configuration or dataset.

        A state saved by another rank of the same run is accepted (Lightning and Accelerate keep
        rank 0's copy only): every rank stands at the same plan position, so each resumes its own
        share from there. What such a state cannot carry is this rank's DALI random streams (the
        auto-augment ops' draws): they restart from the rank's seed, with a warning."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a dali-pipes loader state (expected a dict with format {STATE_FORMAT!r})")
        if state["backend"] != self.backend:
            raise ValueError(f"this state comes from backend {state['backend']!r}; this loader runs "
                             f"{self.backend!r}, whose random streams differ")
        theirs, shard_id = _split_shard(state["signature"])
        ours, _ = _split_shard(self._signature())
        mismatched = [k for k, v in ours.items() if theirs.get(k) != v]
        if mismatched:
            details = "; ".join(f"{k}: state has {theirs.get(k)!r}, loader has {ours[k]!r}" for k in mismatched)
            raise ValueError(f"this state comes from another configuration or dataset ({details})")
        if state["seed"] != self.seed:
            if not self._seed_was_drawn:
                raise ValueError(f"this state was saved with seed {state['seed']}; this loader was built with "
                                 f"seed {self.seed} (build it with the same seed, or seed=None to adopt the state's)")
            self._adopt_seed(state["seed"])
        if self._running:
            self._abandon()
            self._running = False
        self._generation += 1  # an iterator taken before this point must not continue
        self._epoch, self._resume_from = state["epoch"], state["batches_done"]
        self._started = False
        if shard_id == self.plan.shard_id:
            self._restore_engine(state)
        else:
            self._restore_engine({})
            self._note_foreign_state(shard_id)

    def _note_foreign_state(self, shard_id: int) -> None:
        """A backend whose engine state is per rank says what a state from rank `shard_id` lacks."""

    def _signature(self) -> dict:
        ds = self.dataset
        n = len(ds)
        return {
            "preprocess": repr(self.preprocess), "train": self.train, "batch_size": self.batch_size,
            "drop_last": self.drop_last, "shuffle": self.plan.shuffle, "mix": repr(self.mix),
            "shard": f"{self.plan.shard_id}/{self.plan.num_shards}/{self.plan.padding}",  # rank/world/padding
            "dataset": f"{type(ds).__name__}:{n}:{len(ds.classes)}:{ds.describe(0)}:{ds.describe(n - 1)}",
        }

    def _adopt_seed(self, seed: int) -> None:
        from dataclasses import replace

        self.plan = replace(self.plan, seed=seed)
        self.seed = seed

    # -- what a backend provides ------------------------------------------------------------
    def _run_epoch(self, epoch: int, first_batch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield `(plan batch index, images, labels)` from `first_batch` on; a batch left with no
        readable sample is not yielded, so the indices may skip."""
        raise NotImplementedError

    def _engine_state(self) -> dict:
        return {}

    def _restore_engine(self, state: dict) -> None:
        """Prepare the engine so that the next epoch run continues from `state`."""

    def _abandon(self) -> None:
        """Let go of an epoch that the user stopped iterating before its end."""

    def _release(self) -> None:
        """Free engine resources (pipelines, worker processes)."""

    # -- shared output conversion -----------------------------------------------------------
    def _finish_images(self, images: torch.Tensor) -> torch.Tensor:
        """Cast to the configured dtype (bfloat16 is made here; engines emit float32/float16)."""
        dtype = torch_dtype(self.preprocess.normalize.dtype)
        return images if images.dtype == dtype else images.to(dtype)


def _split_shard(signature: dict) -> tuple[dict, int]:
    """The signature without the rank (states are exchangeable between ranks), and the rank."""
    shard_id, _, shards = signature.get("shard", "0/").partition("/")
    return {**signature, "shard": shards}, int(shard_id)


class PlanSampler(Sampler[int]):
    """`loader.sampler`: this rank's sample indices in the order the next epoch visits them.

    Read-only: the loader's plan decides the order (a framework that swaps in its own sampler would
    shard a second time). `set_epoch` is the DistributedSampler idiom, and `len` counts the samples
    of one epoch on this rank.
    """

    def __init__(self, loader: LoaderBase):
        # a weak reference: a cycle would leave a dropped loader to the cycle collector, which
        # closes the worker queues before the loader's __del__ could send its workers home
        self._loader = weakref.proxy(loader)

    @property
    def shuffle(self) -> bool:
        return self._loader.plan.shuffle

    @property
    def seed(self) -> int:
        return self._loader.plan.seed

    @property
    def epoch(self) -> int:
        return self._loader.epoch

    @property
    def num_replicas(self) -> int:
        return self._loader.plan.num_shards

    @property
    def rank(self) -> int:
        return self._loader.plan.shard_id

    def set_epoch(self, epoch: int) -> None:
        self._loader.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self._loader.plan.order(self._loader.epoch).tolist())

    def __len__(self) -> int:
        return self._loader.plan.samples_per_epoch


class PlanBatchSampler(Sampler[list[int]]):
    """`loader.batch_sampler`: the next epoch's batches as lists of sample indices (the plan's)."""

    def __init__(self, loader: LoaderBase, sampler: PlanSampler):
        self._loader = weakref.proxy(loader)
        self.sampler = sampler

    @property
    def batch_size(self) -> int:
        return self._loader.plan.batch_size

    @property
    def drop_last(self) -> bool:
        return self._loader.plan.drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return (batch.tolist() for batch in self._loader.plan.batches(self._loader.epoch))

    def __len__(self) -> int:
        return len(self._loader.plan)
