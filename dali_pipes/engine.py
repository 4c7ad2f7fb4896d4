"""The backend contract: what an engine (dali_pipes.dali.engine, dali_pipes.tv.engine) provides to
the loader. The loader (dali_pipes.dataloader) owns everything else - the DataLoader surface, the
epoch state machine, resume, skipped-image reports, the output stage and the lifecycle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

import torch


class Engine(ABC):
    name: str  # "dali-gpu" | "dali-cpu" | "torchvision"
    num_workers: int = 0  # worker processes
    num_threads: int = 1  # threads of this process that decode
    resampler: str | None = None  # how a DALI graph resizes; None for torchvision

    @abstractmethod
    def run_epoch(self, epoch: int, first_batch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield `(plan batch index, images, labels)` from `first_batch` on, images normalized
        (B, 3, H, W) (a channels_last view is fine); a batch left with no readable sample is not
        yielded, so the indices may skip. Reads the plan from the loader's state when it starts."""

    @abstractmethod
    def abandon(self) -> None:
        """Let go of an epoch that the user stopped iterating before its end."""

    @abstractmethod
    def release(self) -> None:
        """Free engine resources (pipelines, worker processes); called once, at close."""

    def checkpoint(self) -> dict:
        """The engine's own part of a checkpoint (e.g. DALI's random streams)."""
        return {}

    def restore(self, state: dict) -> None:  # noqa: B027 - optional: engines without state of their own
        """Prepare for the next epoch run to continue from `state` (empty: start afresh)."""
