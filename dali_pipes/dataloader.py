"""The loader users iterate: the DataLoader surface over an engine, the same for every backend.

It owns the epoch state machine (which epoch the next `iter()` runs, `set_epoch`, superseding an
iterator abandoned mid-epoch), resume (`state_dict` / `load_state_dict`, seed adoption), the
skipped-image reports and the lifecycle (close, context manager, closing at exit). Where it stands
is one `LoaderState` the engine reads too; every batch goes through one `OutputStage`. The engine
(dali_pipes.engine) only runs epochs.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - its exit hook first (see _close_live_loaders)
import contextlib
import threading
import weakref
from typing import Callable, Iterator

import torch
from torch.utils.data import Sampler

from .config import Preprocess
from .engine import Engine
from .options import LoaderOptions
from .output import OutputStage
from .skips import SkipLog, SkippedImageWarning
from .state import LoaderState

STATE_FORMAT = "dali-pipes/loader-state/v1"

_LIVE_LOADERS: "weakref.WeakSet[Loader]" = weakref.WeakSet()

__all__ = ["Loader", "SkippedImageWarning", "STATE_FORMAT"]


def _close_live_loaders(_live=_LIVE_LOADERS) -> None:
    """At exit, while every module is still whole: end open epochs and stop engines and workers
    of loaders nobody closed (later, in module teardown, their finalizers would find globals gone)."""
    for loader in list(_live):
        with contextlib.suppress(Exception):  # exiting anyway: one that cannot close must not stop the others
            loader.close()


# Before the interpreter waits for its non-daemon threads, not after (where `atexit` runs): an engine
# still running (a loop left by Ctrl-C) may start a pool thread while concurrent.futures wakes the
# pools it knows of at exit, and the interpreter would then wait for that thread forever. threading's
# exit hooks run in reverse order: concurrent.futures' own (imported first) runs after this one.
atexit.register(_close_live_loaders)
getattr(threading, "_register_atexit", lambda hook: None)(_close_live_loaders)


class Loader:
    """Iterate for `(images, labels)`; iterate again for the next epoch."""

    def __init__(self, source, preprocess: Preprocess, state: LoaderState, engine: Engine, output: OutputStage,
                 skips: SkipLog, options: LoaderOptions, *, device: torch.device, backend_reason: str = ""):
        self.source = source  # what the engine reads
        self.dataset = source  # what users see (dali_pipes.DataLoader: their own dataset, as torch's)
        self.backend_reason = backend_reason  # why this engine runs (dali_pipes.backend)
        self.preprocess = preprocess
        self.train, self.mix, self.on_error = options.train, options.mix, options.on_error  # make_loader's
        self.device = device
        self.engine = engine
        self.loader_state = state
        self._output = output
        self._skips = skips
        self._generation = 0
        self.epoch_of: Callable[[], int] | None = None  # dali_pipes.DataLoader: the user's sampler's epoch
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
    def plan(self):
        return self.loader_state.plan

    @property
    def backend(self) -> str:
        return self.engine.name

    @property
    def batch_size(self) -> int:
        return self.plan.batch_size

    @property
    def drop_last(self) -> bool:
        return self.plan.drop_last

    @property
    def seed(self) -> int:
        return self.loader_state.seed

    @property
    def num_workers(self) -> int:
        return self.engine.num_workers

    @property
    def num_threads(self) -> int:
        return self.engine.num_threads

    @property
    def resampler(self) -> str | None:
        return self.engine.resampler

    @property
    def skipped(self) -> dict[str, str]:
        """Every unreadable image met so far (on_error="skip"): name -> why."""
        return self._skips.skipped

    @property
    def skipped_last_epoch(self) -> int:
        return self._skips.last_epoch

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
        return self.loader_state.engine_seed

    @property
    def epoch(self) -> int:
        """The epoch that the next `iter(loader)` runs."""
        return self.loader_state.epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration runs; its order depends only on (seed, epoch)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        self.loader_state.set_epoch(epoch)

    def start_at(self, epoch: int, batches_done: int) -> None:
        """The next iteration runs `epoch` from plan batch `batches_done` on (a scheduled loader
        moves each choice's loader to where the schedule stands); a running epoch is let go."""
        self._stop_running_epoch()
        self._generation += 1
        self.loader_state.restore(epoch, batches_done)

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
        if self.epoch_of is not None:  # a user's sampler whose set_epoch(epoch) the loader follows
            self.set_epoch(int(self.epoch_of()))
        self._generation += 1  # an older iterator stops at its next pull
        iterator = self._epoch_iterator(self._generation)
        self._active = weakref.ref(iterator)
        return iterator

    def _epoch_iterator(self, generation: int):
        """One epoch. Nothing changes until the first `next()`: an iterator dropped unstarted leaves
        the epoch, the resume position and a `set_epoch` made after `iter()` as they were."""
        if generation != self._generation:
            raise RuntimeError("this iterator was replaced by a newer iter(loader)")
        self._stop_running_epoch()
        epoch, first = self.loader_state.begin_epoch()
        self._running = True
        self._skips.begin_epoch()
        batches = self.engine.run_epoch(epoch, first)
        try:
            while True:
                if generation != self._generation:  # checked before pulling: never steal a newer epoch's batch
                    raise RuntimeError("this iterator was replaced by a newer iter(loader)")
                try:
                    index, images, labels = next(batches)
                except StopIteration:
                    break
                batch = self._output.finish(images, labels, self.plan, epoch, index)
                if index + 1 == self.plan.num_batches(epoch):
                    # the last batch: let the engine close its epoch first, so that a state taken
                    # after it (a loop that breaks there) already points at the next epoch
                    for _ in batches:
                        raise RuntimeError("the engine produced more batches than the epoch plan holds")
                    self._running = False
                self.loader_state.delivered(epoch, index)
                yield batch
            if generation == self._generation:
                self._running = False
                self.loader_state.ended(epoch)
                self._skips.end_epoch(epoch, len(self.source))
        finally:
            batches.close()  # now, not in a garbage collection at interpreter exit

    def _stop_running_epoch(self) -> None:
        if self._running:
            self.engine.abandon()
            self._running = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            iterator = self._active() if self._active is not None else None
            if iterator is not None and iterator.gi_frame is not None and not iterator.gi_running:
                iterator.close()  # its epoch ends here, not in a garbage collection later
            self._running = False
            self.engine.release()

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
        return (f"{type(self).__name__}(backend={self.backend!r}, samples={len(self.source)}, "
                f"batch_size={self.batch_size}, batches={len(self)}, train={self.train})")

    # -- resume ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where the loader stands: a plain picklable dict for a training checkpoint (`torch.save`).

        A fresh loader built with the same arguments and given this state by `load_state_dict`
        continues with exactly the batches the uninterrupted run would have produced next.
        """
        epoch, done = self.loader_state.saved()
        state = {"format": STATE_FORMAT, "backend": self.backend, "seed": self.seed, "epoch": epoch,
                 "batches_done": done, "signature": self._signature()}
        state.update(self.engine.checkpoint())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`; refuses a state from another configuration or dataset.

        A state saved by another rank of the same run is accepted (Lightning and Accelerate keep
        rank 0's copy only): every rank stands at the same plan position, so each resumes its own
        share from there (every per-sample draw is a function of the seed and the plan position)."""
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
            if not self.loader_state.seed_was_drawn:
                raise ValueError(f"this state was saved with seed {state['seed']}; this loader was built with "
                                 f"seed {self.seed} (build it with the same seed, or seed=None to adopt the state's)")
            self.loader_state.adopt_seed(state["seed"])
        self._stop_running_epoch()
        self._generation += 1  # an iterator taken before this point must not continue
        self.loader_state.restore(state["epoch"], state["batches_done"])
        self.engine.restore(state if shard_id == self.plan.shard_id else {})

    def _signature(self) -> dict:
        ds, plan = self.source, self.plan
        n = len(ds)
        return {
            "preprocess": repr(self.preprocess), "train": self.train, "batch_size": plan.batch_size,
            "drop_last": plan.drop_last, "shuffle": plan.shuffle, "mix": repr(self.mix),
            "shard": f"{plan.shard_id}/{plan.num_shards}/{plan.padding}",  # rank/world/padding
            "dataset": f"{type(ds).__name__}:{n}:{len(ds.classes)}:{ds.describe(0)}:{ds.describe(n - 1)}",
        } | ({"repeats": plan.repeats} if plan.repeats else {})  # (absent when off: older states still load)


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

    def __init__(self, loader: Loader):
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

    def __init__(self, loader: Loader, sampler: PlanSampler):
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
