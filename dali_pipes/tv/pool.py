"""Batch memory the torchvision backend's DataLoader workers reuse.

A worker's batch reaches the main process in shared memory. A fresh segment per batch (what
`default_collate` does) costs the kernel ~0.2 ms per 224 x 224 float image to allocate and zero:
a tenth of a worker's time on the RandAugment recipe (benchmarks/RESULTS.md).
So each worker keeps a few segments and writes a batch into one the main process no longer uses.

The main process says which: a flag per segment in a shared array, set once nothing there holds
the segment's storage any more (a weak reference to it, looked at as each batch arrives, in
`Lease.__reduce__`'s rebuild). A batch the training loop keeps, in any view, keeps its segment; the
worker then takes a fresh one, so reuse never writes into memory a tensor still sees.
"""

from __future__ import annotations

import math
import threading
import uuid

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils.data import get_worker_info

# per worker: the DataLoader's prefetch (2 batches) + the one the loop holds + one arriving
SEGMENTS_PER_WORKER = 4

_POOLS: dict[str, BatchPool] = {}  # the main process's pools, by id: what an arriving Lease reports to


class BatchPool:
    """Segments for `num_workers` workers: `empty` in a worker, `arrived` in the main process."""

    def __init__(self, num_workers: int, segments: int = SEGMENTS_PER_WORKER):
        self.id = uuid.uuid4().hex
        self.segments = segments
        self.free = torch.ones(max(num_workers, 1) * segments, dtype=torch.int8).share_memory_()
        self._buffers: dict[int, torch.Tensor] = {}  # in a worker: its segments
        self._held: list[tuple[int, StorageWeakRef]] = []  # in the main process: segments out there
        self._lock = threading.Lock()
        _POOLS[self.id] = self

    def __getstate__(self):
        return {"id": self.id, "segments": self.segments, "free": self.free}

    def __setstate__(self, state):
        self.__dict__.update(state, _buffers={}, _held=[], _lock=threading.Lock())

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor, Lease | None]:
        """An uninitialized tensor for a batch, and the lease that travels with it (None outside a
        worker). With every segment still in use it is memory of its own, and its lease (segment
        None) still makes the main process look at the segments out there as it arrives."""
        worker = get_worker_info()
        if worker is None:
            return torch.empty(shape, dtype=dtype), None
        numel = math.prod(shape)
        first = worker.id * self.segments
        for segment in range(first, first + self.segments):
            if not self.free[segment]:
                continue
            buffer = self._buffers.get(segment)
            if buffer is None or buffer.dtype != dtype or buffer.numel() < numel:
                buffer = self._buffers[segment] = shared_empty((numel,), dtype)
            self.free[segment] = 0
            images = buffer[:numel].view(shape)
            return images, Lease(self.id, segment, images)
        images = shared_empty(shape, dtype)
        return images, Lease(self.id, None, images)

    def arrived(self, segment: int | None, images: torch.Tensor) -> None:
        """Main process: a batch came (in `segment`, or in memory of its own: None); segments whose
        batches are gone are freed."""
        with self._lock:
            out = []
            for held, ref in self._held:
                if ref.expired():
                    self.free[held] = 1
                else:
                    out.append((held, ref))
            if segment is not None:
                out.append((segment, StorageWeakRef(images.untyped_storage())))
            self._held = out

    def close(self) -> None:
        _POOLS.pop(self.id, None)


class Lease:
    """Travels with a batch written into a pool's segment; rebuilt in the main process, it tells
    the pool (`BatchPool.arrived`)."""

    def __init__(self, pool_id: str, segment: int | None, images: torch.Tensor):
        self.pool_id, self.segment, self.images = pool_id, segment, images

    def __reduce__(self):
        return _arrive, (self.pool_id, self.segment, self.images)


def _arrive(pool_id: str, segment: int | None, images: torch.Tensor) -> None:
    pool = _POOLS.get(pool_id)
    if pool is not None:
        pool.arrived(segment, images)


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialized tensor in a fresh shared-memory segment (as default_collate allocates in a worker)."""
    elem = torch.empty(0, dtype=dtype)
    storage = elem._typed_storage()._new_shared(math.prod(shape), device=elem.device)
    return elem.new(storage).resize_(shape)
