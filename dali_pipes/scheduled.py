"""The scheduled loader: batches whose input size and batch size follow a schedule (timm's
`input_size_choices` / `batch_size_choices`), one `Loader` per choice, interleaved.

Every choice's loader runs its own engine over its share of one ScheduledPlan (dali_pipes.sampling):
a DALI pipeline or DataLoader per input size, each reading ahead on its own batches, so a batch of
another size never waits for a pipeline to be rebuilt. This class keeps the schedule's position
(epoch, batches done) and moves every choice's loader there when an epoch starts or a checkpoint
is restored.
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Iterator

import torch
from torch.utils.data import Sampler

from .dataloader import STATE_FORMAT, Loader

SCHEDULED_STATE_FORMAT = "dali-pipes/scheduled-loader-state/v1"
_ENGINE_KEYS = ("dali_checkpoint", "dali_epoch_ended")  # the graph draws nothing itself: a rebuilt one resumes


class ScheduledLoader:
    """Iterate for `(images, labels)` of the schedule's sizes; `len`, `set_epoch`, `sampler`,
    `batch_sampler`, `state_dict` / `load_state_dict`, `close` as `Loader`."""

    def __init__(self, loaders: list[Loader]):
        self.loaders = loaders
        self.epoch = 0  # the epoch the next iter() runs
        self._resume_from = 0
        self._position = (0, 0)
        self._started = False
        self._generation = 0
        self.sampler = ScheduleSampler(self)
        self.batch_sampler = ScheduleBatchSampler(self)

    @property
    def plan(self):
        """The ScheduledPlan (read from the choices' loaders: a restored state may change its seed)."""
        return self.loaders[0].plan.parent

    @property
    def dataset(self):
        return self.loaders[0].dataset

    @property
    def backend(self) -> str:
        return self.loaders[0].backend

    @property
    def seed(self) -> int:
        return self.plan.base.seed

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self.plan.batch_sizes

    @property
    def mix(self):
        return self.loaders[0].mix

    def __len__(self) -> int:
        return len(self.plan.choices(self.epoch))

    def set_epoch(self, epoch: int) -> None:
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        if epoch != self.epoch:
            self._resume_from = 0
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._generation += 1
        return self._run(self._generation)

    def _run(self, generation: int):
        epoch, first = self.epoch, self._resume_from
        self.epoch, self._resume_from, self._position, self._started = epoch + 1, 0, (epoch, first), True
        choices = self.plan.choices(epoch)
        done = Counter(choices[:first])
        for k, loader in enumerate(self.loaders):
            loader.start_at(epoch, done[k])
        iterators = [iter(loader) for loader in self.loaders]  # nothing runs before a loader's first batch
        try:
            for position in range(first, len(choices)):
                if generation != self._generation:
                    raise RuntimeError("this iterator was replaced by a newer iter(loader)")
                batch = next(iterators[choices[position]], None)
                self._position = (epoch, position + 1)
                if batch is not None:  # None: that choice's last batches had no readable image left
                    yield batch
            self._position = (epoch + 1, 0)
        finally:
            for iterator in iterators:
                iterator.close()

    # -- resume ---------------------------------------------------------------------------------
    def _saved(self) -> tuple[int, int]:
        epoch, done = self._position if self._started else (self.epoch, self._resume_from)
        return (epoch + 1, 0) if done >= len(self.plan.choices(epoch)) else (epoch, done)

    def state_dict(self) -> dict:
        """Where the schedule stands, and each choice's loader's state (its signature and seed)."""
        epoch, done = self._saved()
        choices = [{k: v for k, v in loader.state_dict().items() if k not in _ENGINE_KEYS}
                   for loader in self.loaders]
        return {"format": SCHEDULED_STATE_FORMAT, "epoch": epoch, "batches_done": done, "choices": choices}

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`: the same choices (sizes, batch sizes, preprocessing) and data."""
        if not isinstance(state, dict) or state.get("format") != SCHEDULED_STATE_FORMAT:
            hint = " (a plain loader's state: this loader is scheduled)" if isinstance(state, dict) and \
                state.get("format") == STATE_FORMAT else ""
            raise ValueError(f"not a dali-pipes scheduled loader state (format {SCHEDULED_STATE_FORMAT!r}){hint}")
        if len(state["choices"]) != len(self.loaders):
            raise ValueError(f"this state has {len(state['choices'])} scheduled choices; this loader has "
                             f"{len(self.loaders)}")
        for loader, choice_state in zip(self.loaders, state["choices"]):
            loader.load_state_dict(choice_state)  # refuses another configuration; adopts a drawn seed
        self._generation += 1
        self.epoch, self._resume_from, self._started = state["epoch"], state["batches_done"], False

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        for loader in self.loaders:
            loader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ScheduledLoader(backend={self.backend!r}, samples={len(self.dataset)}, "
                f"batch_sizes={list(self.batch_sizes)}, batches={len(self)})")


class ScheduleSampler(Sampler[int]):
    """`loader.sampler`: this rank's sample order of the next epoch; `set_epoch` is the loader's."""

    def __init__(self, loader: ScheduledLoader):
        self._loader = weakref.proxy(loader)

    def set_epoch(self, epoch: int) -> None:
        self._loader.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self._loader.epoch

    def __iter__(self) -> Iterator[int]:
        return iter(self._loader.plan.base.order(self._loader.epoch).tolist())

    def __len__(self) -> int:
        return self._loader.plan.base.samples_per_epoch


class ScheduleBatchSampler(Sampler[list]):
    """`loader.batch_sampler`: the next epoch's batches as timm's ScheduledBatchSampler yields them,
    lists of (sample index, choice index); `set_epoch` is the loader's."""

    def __init__(self, loader: ScheduledLoader):
        self._loader = weakref.proxy(loader)
        self.sampler = loader.sampler

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return self._loader.batch_sizes

    def set_epoch(self, epoch: int) -> None:
        self._loader.set_epoch(epoch)

    def __iter__(self):
        for choice, indices, _ in self._loader.plan.epoch_batches(self._loader.epoch):
            yield [(int(i), choice) for i in indices]

    def __len__(self) -> int:
        return len(self._loader)
