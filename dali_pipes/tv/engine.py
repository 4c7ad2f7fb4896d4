"""The torchvision engine (dali_pipes.engine): a map-style dataset over the source and a DataLoader.

Batches come from `EpochPlan` through a batch sampler, so order and last-batch policy match the
DALI backend. Each sample is augmented with the parameters its seed from the plan gives (no global
RNG is used): the output does not depend on the number of workers.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from ..engine import Engine
from ..errors import ImageDecodeError, SourceError
from ..kernels.tv import EvalGeometry
from ..options import LoaderOptions
from ..output import OutputStage
from ..readers import ProcessReaders
from ..skips import SkipLog
from ..sources.base import has_batch_reads, read_batch, start_epoch
from ..sources.decode import to_image_tensor
from ..sources.header import DEFAULT_MAX_PIXELS
from ..state import LoaderState
from . import workers
from .pool import BatchPool, Lease
from .transforms import Normalize, TrainKernel


class PlannedBatchSampler(Sampler):
    """Yields the plan's batches as lists of (sample index, augmentation seed)."""

    def __init__(self, state: LoaderState):
        self.loader_state = state  # the plan is read from it when an epoch starts
        self.epoch = 0
        self.first = 0  # the batch to start from (a resumed epoch)

    def __len__(self) -> int:
        return len(self.loader_state.plan)

    def __iter__(self):
        plan = self.loader_state.plan
        batches, seeds = plan.batches(self.epoch), plan.batch_seeds(self.epoch)
        for batch, batch_seeds in zip(batches[self.first:], seeds[self.first:]):
            yield [(int(i), int(seed)) for i, seed in zip(batch, batch_seeds)]


@dataclass(frozen=True)
class Skipped:
    """What a worker returns for an unreadable sample when on_error="skip"."""

    where: str
    reason: str


@dataclass(frozen=True)
class Collated:
    """What a worker returns for a batch: (images, labels) of the readable samples (None: none was),
    the skipped ones, and the lease of the images' pool segment (tv.pool)."""

    batch: tuple[torch.Tensor, torch.Tensor] | None
    skipped: list[Skipped]
    lease: Lease | None = None


def collate_readable(samples):
    """(batch or None, the skipped ones, the lease): a batch the dataset collated itself as it is,
    else default_collate over the readable samples (the user's own dataset and transform). The
    lease only rides along to the main process, where it frees segments (None there)."""
    if isinstance(samples, Collated):
        return samples.batch, samples.skipped, samples.lease
    readable = [s for s in samples if not isinstance(s, Skipped)]
    skipped = [s for s in samples if isinstance(s, Skipped)]
    return (default_collate(readable) if readable else None), skipped, None


class TransformedSource(Dataset):
    """Sample (index, seed) -> (tensor, label): decode, then the train kernel or the eval transform."""

    def __init__(self, source, preprocess, train: bool, skip: bool = False,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, read_threads: int | None = None,
                 pool: BatchPool | None = None):
        self.skip = skip
        self.pool = pool
        self.readers = ProcessReaders(read_threads)  # a batch's files at once where storage is slow
        self.max_pixels = max_pixels
        self.source = source
        self.kernel = TrainKernel(preprocess) if train else None
        self.geometry = None if train else EvalGeometry(preprocess)
        self.normalize = Normalize(preprocess)

    def __len__(self) -> int:
        return len(self.source)

    def __getitems__(self, keys):
        """A whole batch, collated here: a source that reads batches (remote data: concurrently)
        reads it at once, other files are read on threads where storage is slow (`readers`), the
        train kernel draws the batch's parameters at once and writes the batch in place."""
        if getattr(self.source, "transformed", False):  # the user's own dataset and transform, run as they are
            return [self.source.read(index) for index, _ in keys]
        try:
            datas = self._read_all([index for index, _ in keys])
        except (ImageDecodeError, SourceError):
            datas = [None] * len(keys)  # read sample by sample: each error goes to its own sample
        decoded = [self._decode(index, data) for (index, _), data in zip(keys, datas)]
        skipped = [image for image in decoded if isinstance(image, Skipped)]
        ready = [(key, image) for key, image in zip(keys, decoded) if not isinstance(image, Skipped)]
        if not ready:
            return Collated(None, skipped)
        images = [image for _, image in ready]
        if self.kernel is not None:
            images = self.kernel.batch(images, [seed for (_, seed), _ in ready])
        else:
            images = [self.geometry(image) for image in images]
        pixels, lease = self.normalize.batch(images, self.pool)
        labels = default_collate([self.source.targets[index] for (index, _), _ in ready])
        return Collated((pixels, labels), skipped, lease)

    def __getitem__(self, key):
        """One (index, seed) as a batch of one (the loader always asks for whole batches)."""
        return self.__getitems__([key])

    def _read_all(self, indices) -> list:
        if has_batch_reads(self.source) or not self.source.encoded:
            return read_batch(self.source, indices)  # its own batched read, or arrays in memory
        return self.readers.map(self.source.read, indices)

    def _decode(self, index: int, data):
        """The sample's uint8 (3, H, W) image, or what was skipped (on_error="skip")."""
        try:
            if data is None:
                data = self.source.read(index)
            if isinstance(data, Exception):  # a remote read that failed, reported in place
                raise data
            return to_image_tensor(data, self.source.describe(index), self.source.encoded, self.max_pixels)
        except (ImageDecodeError, SourceError) as err:
            if not self.skip:
                raise
            return Skipped(self.source.describe(index), str(err))


class TorchvisionEngine(Engine):
    name = "torchvision"

    def __init__(self, source, preprocess, state: LoaderState, skips: SkipLog, output: OutputStage,
                 options: LoaderOptions, *, device: torch.device, num_workers: int):
        """`options`: make_loader's (train, on_error and max_pixels are read here)."""
        if getattr(source, "sequential", False):
            num_workers = 0  # a stream is read in order by one process (workers would each read all of it)
        self.num_workers = num_workers
        self.device = device
        self._source = source
        self._skips = skips
        self._output = output
        self._sampler = PlannedBatchSampler(state)
        self._pool = BatchPool(num_workers)
        self._loader = DataLoader(
            TransformedSource(source, preprocess, options.train, skip=options.on_error == "skip",
                              max_pixels=options.max_pixels, read_threads=options.read_threads, pool=self._pool),
            batch_sampler=self._sampler,
            collate_fn=collate_readable,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=device.type == "cuda",
        )

    def run_epoch(self, epoch: int, first_batch: int):
        self._sampler.epoch, self._sampler.first = epoch, first_batch
        start_epoch(self._source, self._sampler.loader_state.plan, epoch, first_batch)
        for index, (batch, skipped, _) in enumerate(_worker_errors_surfaced(self._loader), start=first_batch):
            for s in skipped:
                self._skips.note(s.where, s.reason)
            if batch is None:  # nothing readable in this batch
                continue
            images, labels = batch
            images = self._output.in_layout(images)  # before the copy to the device: pinned NHWC memory
            if self.device.type != "cpu":
                images = images.to(self.device, non_blocking=True)
                labels = labels.to(self.device, non_blocking=True)
            yield index, images, labels

    def abandon(self) -> None:
        """The DataLoader's iterator of the abandoned epoch is dropped when the next one starts."""

    def release(self, _release_workers=workers.release) -> None:  # bound now: may run after module teardown
        iterator = getattr(self._loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            _release_workers(iterator)
        self._loader._iterator = None
        self._pool.close()


def fork_safe_iter(loader: DataLoader):
    """`iter(loader)` with its worker processes forked from a frozen heap.

    A forked child inherits every object of the parent, including DALI pipelines that are garbage
    but not yet collected; if the child's garbage collector finalizes one, its shutdown waits
    forever for DALI threads that do not exist after fork. Freezing the heap across the fork means
    children never collect, so never finalize, what they inherited. (No collection first: a full
    one costs 0.1-0.3 s in a process with torch loaded, more beside a large model, at each start.)
    """
    if loader.num_workers == 0 or (loader.persistent_workers and loader._iterator is not None):
        return iter(loader)  # nothing is forked: persistent workers live on
    gc.freeze()
    try:
        iterator = iter(loader)
    finally:
        gc.unfreeze()
    workers.hold(iterator)
    return iterator


def _worker_errors_surfaced(loader: DataLoader, _data_errors=(ImageDecodeError, SourceError)):
    """Re-raise a worker's data error with its own message first, not the worker's traceback.
    (`_data_errors` is bound at definition: a generator closed at interpreter exit may run its
    `except` after this module's globals are gone.)"""
    try:
        yield from fork_safe_iter(loader)
    except _data_errors as err:
        kind = type(err)
        message = str(err).rstrip().splitlines()[-1]
        if "in DataLoader worker process" not in str(err):
            raise
        raise kind(message.removeprefix(f"{kind.__module__}.{kind.__name__}: ")) from err
    except (RuntimeError, OSError) as err:
        if not is_shared_memory_shortage(err):
            raise
        raise RuntimeError(shared_memory_hint(err)) from err


SHM = "/dev/shm"  # noqa: S108 - read (its size), never written here


def is_shared_memory_shortage(err: BaseException) -> bool:
    """torch's "unable to allocate shared memory(shm) ... No space left on device" from a worker."""
    text = str(err)
    shortage = ("No space left", "unable to allocate", "unable to write", "out of shared memory")
    return ("shared memory" in text or SHM in text) and any(words in text for words in shortage)


def shared_memory_hint(err: BaseException) -> str:
    """What to do when DataLoader workers run out of /dev/shm (a container's default is 64 MB)."""
    import shutil

    try:
        usage = shutil.disk_usage(SHM)
        free = f"{usage.free / 2**20:.1f} MiB free of {usage.total / 2**20:.1f} MiB"
    except OSError:
        free = "its size unknown"
    return (f"the torchvision backend's DataLoader workers ran out of shared memory (/dev/shm: {free}): in a "
            "container give it more (docker/podman run --shm-size 8g, or --ipc=host; compose: shm_size), or use "
            "fewer workers, or the dali-cpu backend (no worker processes). "
            f"({str(err).strip().splitlines()[-1]})")
