"""The DALI pipeline: a batch feeder (the source side) joined with the preprocessing graph.

Samples enter through `fn.external_source` in batch mode. The feeder reads the encoded bytes of
the batches that `EpochPlan` lists for the current epoch, so the order, the short last batch and
`drop_last` are decided in one place for both backends, and DALI's own end-of-epoch signal
(StopIteration from the source) drives the iterator.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from ..config import GpuDecoder, Preprocess, TrainTransform
from ..constants import READ_AHEAD_BYTES
from ..errors import ImageDecodeError, SourceError
from ..kernels.nodes import on_device
from ..ops import active_ops
from ..params import draw_train_params
from ..readers import default_read_threads
from ..sampling import EpochPlan
from ..sources.base import check_encoded, has_batch_reads, read_batch, start_epoch
from ..sources.header import DEFAULT_MAX_PIXELS, checked_size
from ..state import LoaderState
from . import graph
from .prefetch import Prefetcher

_DALI_TYPES = {"int32": types.INT32, "float32": types.FLOAT, "float64": types.FLOAT64}


class Prepared(NamedTuple):
    """One batch ready for DALI: the sample indices fed, and the external source's outputs."""

    indices: np.ndarray
    outputs: list
    nbytes: int


class BatchFeeder:
    """The external source's callback: batch `info.iteration` of the current epoch's plan, with the
    per-sample train parameters when training.

    The batches are prepared ahead on background threads (dali.prefetch: bytes read by
    `read_threads` readers at once, headers checked against `max_pixels`, parameters drawn), so the
    callback, which DALI runs on the training thread, takes a ready batch.

    With `skip=True` an unreadable sample (empty, not an image, a header that cannot be read or
    over `max_pixels`, or one DALI failed on before, see `bad`) is left out of its batch and reported
    through `report`; a batch with nothing readable left is left out entirely.
    """

    def __init__(self, source, state: LoaderState, train_cfg: TrainTransform | None, *, skip: bool = False,
                 report=None, max_pixels: int | None = DEFAULT_MAX_PIXELS, read_threads: int | None = None,
                 read_ahead_bytes: int = READ_AHEAD_BYTES):
        self.source = source
        self.max_pixels = max_pixels  # refused before DALI decodes (sources.header.check_pixels)
        self.loader_state = state  # the plan is read from it when an epoch starts
        self.train_cfg = train_cfg
        self.ops = [] if train_cfg is None else active_ops(train_cfg)  # what each batch feeds, in order
        self.skip = skip
        self.report = report or (lambda index, reason: None)
        self.bad: dict[int, str] = {}  # sample index -> why it cannot be used
        self.ahead = Prefetcher(threads=read_threads or default_read_threads(), budget=read_ahead_bytes,
                                nbytes=lambda prepared: prepared.nbytes,
                                batches_at_once=2 if has_batch_reads(source) else 1)
        self._batches: list[np.ndarray] = []
        self._first = 0
        self._shift = 0
        self._align = False
        self._stopped = True
        # (plan batch index, sample indices) handed to DALI and not yet delivered, oldest first:
        # a decode error belongs to the oldest one.
        self.in_flight: deque[tuple[int, np.ndarray]] = deque()
        self.call_seconds: deque[float] = deque(maxlen=4096)  # the training thread's time in each recent call

    @property
    def plan(self) -> EpochPlan:
        return self.loader_state.plan

    @property
    def feeds(self):
        """The per-sample train values fed after images and labels (named, typed: dali_pipes.ops)."""
        return [f for op in self.ops for f in op.feeds]

    def start_epoch(self, epoch: int, first_batch: int = 0, *, restored: bool = False) -> None:
        """Feed `epoch` from plan batch `first_batch` on. A pipeline `restored` from a checkpoint
        counts iterations from the batches it had delivered, which is fewer than the plan's position
        when batches were left out: its first call is then aligned to `first_batch`."""
        batches = self.plan.batches(epoch)
        seeds = self.plan.batch_seeds(epoch) if self.train_cfg is not None else None
        start_epoch(self.source, self.plan, epoch, first_batch)
        self._batches = batches
        self._first, self._shift, self._align = first_batch, 0, restored
        self._stopped = False
        self.in_flight.clear()
        self.ahead.plan(range(first_batch, len(batches)),
                        lambda batch, read_map: self._prepare(batches, seeds, batch, read_map))

    def stop(self) -> None:
        """End the epoch early: the next call raises StopIteration, the read-ahead stops."""
        self._stopped = True
        self.ahead.stop()

    def close(self) -> None:
        """Stop, and wait for the reader threads to end."""
        self._stopped = True
        self.ahead.close()

    def __call__(self, info):
        start = time.perf_counter()
        try:
            return self._next_batch(info)
        finally:
            self.call_seconds.append(time.perf_counter() - start)

    def _next_batch(self, info):
        if self._align:
            self._first, self._align = self._first - info.iteration, False
        while True:
            batch = self._first + info.iteration + self._shift
            if self._stopped or batch >= len(self._batches):
                self.ahead.stop()  # the epoch's end: no thread outlives it
                raise StopIteration
            prepared = self.ahead.take(batch)
            if len(prepared.indices):
                break
            self._shift += 1  # nothing readable in this batch: leave it out
        self.in_flight.append((batch, prepared.indices))
        return prepared.outputs

    def _prepare(self, batches, seeds, batch: int, read_map) -> Prepared:
        """Batch `batch` of an epoch's `batches` read, checked and given its parameters (runs on a
        read-ahead thread, or on the caller when it restarted)."""
        positions, samples, sizes = self._read(batches[batch], read_map)
        indices = batches[batch][positions]
        outputs = [samples, np.ascontiguousarray(self.source.targets[indices])]
        if self.train_cfg is not None and positions:
            params = draw_train_params(self.train_cfg, np.asarray(sizes), seeds[batch][positions])
            for op in self.ops:
                fed = op.feed(params, self.train_cfg)
                outputs += [fed[f.name] for f in op.feeds]
        return Prepared(indices, outputs, sum(s.nbytes for s in samples))

    def _read_all(self, indices, read_map) -> list:
        if has_batch_reads(self.source) or not self.source.encoded:
            return read_batch(self.source, indices)  # its own batched read, or arrays in memory
        return read_map(lambda i: self.source.read(int(i)), list(indices))

    def _read(self, indices, read_map):
        """(positions in the batch, samples for DALI, (H, W) per sample) of the readable samples."""
        try:
            datas = self._read_all(indices, read_map)
        except (ImageDecodeError, SourceError):
            if not self.skip:
                raise
            datas = None  # find the culprit sample by sample
        positions, samples, sizes = [], [], []
        for position, index in enumerate(int(i) for i in indices):
            if index in self.bad:
                self.report(index, self.bad[index])
                continue
            try:
                data = datas[position] if datas is not None else self.source.read(index)
                if isinstance(data, Exception):  # a remote read that failed, reported in place
                    raise data
                sample, size = self._sample(data, index), self._size(data, index)
            except (ImageDecodeError, SourceError) as err:
                if not self.skip:
                    raise
                self.bad[index] = str(err)
                self.report(index, str(err))
                continue
            positions.append(position)
            samples.append(sample)
            sizes.append(size)
        return positions, samples, sizes

    def _sample(self, data, index: int) -> np.ndarray:
        if not self.source.encoded:
            return data  # an HWC uint8 array
        check_encoded(data, self.source.describe(index))
        return np.frombuffer(data, dtype=np.uint8)

    def _size(self, data, index: int):
        """(H, W) for the train parameters; the header is read in eval too while a pixel limit holds."""
        if not self.source.encoded:
            return data.shape[:2] if self.train_cfg is not None else None
        if self.train_cfg is None and self.max_pixels is None:
            return None
        return checked_size(data, self.source.describe(index), self.max_pixels)


def define_pipeline(feeder: BatchFeeder, cfg: Preprocess, *, train: bool, device: str,
                    num_threads: int, device_id: int | None, seed: int, prefetch: int,
                    checkpoint: bytes | None = None, resampler: str = "dali", decoder: GpuDecoder | None = None):
    """The pipeline, defined but not built: outputs (images, labels), both on `device`.

    Defining checks every operator's placement (a GPU node fed to a CPU operator fails here), which
    needs no GPU: the tests define every GPU graph with `device_id=0` on machines without one.
    Checkpointing is always on (DALI: no cost): a checkpoint restores the source's batch counter,
    for resume (the graph has no random ops of its own: every draw is fed).
    """

    @pipeline_def(batch_size=feeder.plan.batch_size, num_threads=num_threads, device_id=device_id,
                  seed=seed % (2**31), prefetch_queue_depth=prefetch,
                  enable_conditionals=train and any(op.needs_conditionals for op in active_ops(cfg.train)),
                  enable_checkpointing=True)
    def classification_pipeline():
        encoded = feeder.source.encoded
        label_type = types.FLOAT if feeder.source.targets.dtype == np.float32 else types.INT64
        feeds = feeder.feeds
        outputs = fn.external_source(source=feeder, num_outputs=2 + len(feeds), batch=True, batch_info=True,
                                     dtype=[types.UINT8, label_type, *(_DALI_TYPES[f.dtype] for f in feeds)],
                                     layout=["" if encoded else "HWC", "", *("" for _ in feeds)])
        inputs, labels = outputs[:2]
        params = {f.name: node for f, node in zip(feeds, outputs[2:])}
        images = graph.preprocess(inputs, cfg, train, device, encoded=encoded, params=params,
                                  resampler=graph.Resampler(resampler, num_threads), decoder=decoder)
        return images, on_device(labels, device)

    # the graph function runs when the graph is built (build(), or _build_graph() alone), or here
    with untraced():
        return classification_pipeline(checkpoint=checkpoint) if checkpoint else classification_pipeline()


def build_pipeline(feeder: BatchFeeder, cfg: Preprocess, **options):
    """`define_pipeline(...)`, built: ready to run."""
    pipe = define_pipeline(feeder, cfg, **options)
    with untraced():
        pipe.build()
    return pipe


@contextmanager
def untraced():
    """DALI's origin tracing off while our graph is generated.

    DALI records the Python stack of every operator it defines, to name the defining line in its
    errors: here that line is always inside this package, never the user's code, and recording it
    is 60% of generating a graph (a train graph with RandAugment: 0.21 s -> 0.08 s). The switch is
    DALI's private `set_tracing`; a DALI without it keeps tracing.
    """
    try:
        from nvidia.dali._utils import dali_trace

        was, set_tracing = dali_trace.is_tracing_enabled(), dali_trace.set_tracing
    except (ImportError, AttributeError):
        yield
        return
    set_tracing(enabled=False)
    try:
        yield
    finally:
        set_tracing(enabled=was)
