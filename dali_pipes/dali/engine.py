"""The DALI engine: runs epochs of the loader's plan through a DALI pipeline (dali_pipes.engine).

DALI's `DALIGenericIterator` owns the epoch boundary (the feeder's StopIteration) and the copy into
torch tensors; this class adds what a DataLoader user expects: no manual reset, an abandoned epoch
released cleanly, and a decode error that names the file.
"""

from __future__ import annotations

import re

import torch
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from ..engine import Engine
from ..errors import ImageDecodeError
from ..memory import release_free_heap
from ..options import LoaderOptions
from ..skips import SkipLog
from ..sources.decode import pil_decodes
from ..state import LoaderState
from . import torch_resample
from .pipeline import BatchFeeder, build_pipeline

_SAMPLE_IN_MESSAGE = re.compile(r"sample #(\d+)")


class DaliEngine(Engine):
    def __init__(self, source, preprocess, state: LoaderState, skips: SkipLog, options: LoaderOptions, *,
                 device: torch.device, num_threads: int, resampler: str):
        """`options`: make_loader's (train, prefetch, on_error, gpu_decoder and the read-ahead's are
        read here); `num_threads` and `resampler` as resolved for this machine."""
        self.name = "dali-gpu" if device.type == "cuda" else "dali-cpu"
        self.source = source
        self.preprocess = preprocess
        self.loader_state = state
        self.options = options
        self.device = device
        self.num_threads = num_threads  # no worker processes: DALI decodes in num_threads threads of this one
        self.resampler = resampler
        train_cfg = preprocess.train if options.train else None
        self._feeder = BatchFeeder(source, state, train_cfg, skip=options.on_error == "skip",
                                   report=lambda index, reason: skips.note(source.describe(index), reason),
                                   max_pixels=options.max_pixels, read_threads=options.read_threads,
                                   read_ahead_bytes=options.read_ahead_bytes)
        self._iterator: DALIGenericIterator | None = None
        self._needs_reset = False
        self._checkpoint: bytes | None = None  # from restore(), for the next pipeline built
        self._checkpoint_at_epoch_end = False
        self._epoch_ended = False  # DALI's iterator has signalled the end of the current epoch
        self._run = 0  # counts run_epoch calls

    def _dali_iterator(self) -> DALIGenericIterator:
        if self._iterator is None:
            pipe = build_pipeline(
                self._feeder, self.preprocess, train=self.options.train,
                device="gpu" if self.device.type == "cuda" else "cpu",
                num_threads=self.num_threads,
                device_id=self.device.index if self.device.type == "cuda" else None,
                seed=self.loader_state.engine_seed, prefetch=self.options.prefetch, checkpoint=self._checkpoint,
                resampler=self.resampler, decoder=self.options.gpu_decoder,
            )
            self._iterator = DALIGenericIterator([pipe], ["images", "labels"], prepare_first_batch=False)
            self._needs_reset = False
        return self._iterator

    def run_epoch(self, epoch: int, first_batch: int):
        self._run += 1
        run = self._run  # a newer run supersedes this one: closing this generator must not touch it
        restoring = self._iterator is None and self._checkpoint is not None
        iterator = self._dali_iterator()
        self._checkpoint = None
        # a restored checkpoint carries the source's batch counter (batches delivered), aligned to the
        # plan's position; one taken at an epoch's end replays that end first, then starts at 0
        at_end = restoring and self._checkpoint_at_epoch_end
        self._feeder.start_epoch(epoch, first_batch, restored=restoring and not at_end)
        if at_end:
            for _ in iterator:  # the restored pipeline first reports the end it was saved at
                raise RuntimeError("a DALI checkpoint taken at an epoch's end produced a batch")
            iterator.reset()
        elif self._needs_reset:
            iterator.reset()
        self._needs_reset = True
        self._epoch_ended = False
        channels_last = self.preprocess.normalize.channels_last
        label_shape = self.source.targets.shape[1:]
        while True:
            try:
                out = next(iterator)
            except StopIteration:
                self._epoch_ended = True
                release_free_heap()  # else glibc keeps the epoch's freed buffers: RSS creeps up
                return
            except Exception as err:  # the pipeline is unusable after any error
                failed = self._feeder.in_flight[0] if self._feeder.in_flight else None
                self._discard_pipeline()
                if failed is None or not isinstance(err, RuntimeError) or torch_resample.FAILURE in str(err):
                    raise  # the source's own errors already name the file, row or member; not a decode error
                failed_batch, failed_indices = failed
                suspects, error = self._decode_error(failed_indices, str(err))
                if self.options.on_error != "skip":
                    raise error from err
                for index in suspects:  # leave them out and go on from the batch that failed
                    self._feeder.bad[index] = error.reason
                iterator = self._dali_iterator()
                self._needs_reset = True  # the rebuilt pipeline's epoch still ends like any other
                self._feeder.start_epoch(epoch, failed_batch)
                continue
            index, _ = self._feeder.in_flight.popleft()
            images, labels = out[0]["images"], out[0]["labels"]
            if channels_last:  # DALI wrote NHWC: this view is (B, 3, H, W) in channels_last memory
                images = images.permute(0, 3, 1, 2)
            try:
                yield index, images, labels.reshape(len(labels), *label_shape)
            except GeneratorExit:  # the loop broke off (its iterator was closed): no more reading ahead
                if run == self._run:  # (a superseded run's iterator, dropped late, leaves the newer epoch be)
                    self._feeder.stop()
                raise

    def _decode_error(self, indices, message: str) -> tuple[list[int], ImageDecodeError]:
        """The samples behind a DALI decode failure, and an error naming their files: DALI's message
        gives the index in the batch; else PIL finds which ones do not decode; else the batch."""
        found = _SAMPLE_IN_MESSAGE.search(message)
        if found and int(found.group(1)) < len(indices):
            suspects = [int(indices[int(found.group(1))])]
        else:
            suspects = [int(i) for i in indices if not pil_decodes(self.source.read(int(i)))] or \
                       [int(i) for i in indices]
        names = ", ".join(self.source.describe(i) for i in suspects)
        first_line = next((line for line in message.splitlines() if "Failed" in line or "failure" in line),
                          message.splitlines()[-1] if message else "")
        return suspects, ImageDecodeError(names, f"DALI could not decode it ({first_line.strip()})")

    def checkpoint(self) -> dict:
        """DALI's checkpoint: the random streams of the graph's own random ops and the source's
        batch counter; restoring one taken at an epoch's end needs the reset that epoch was due."""
        if self._iterator is not None:
            return {"dali_checkpoint": self._iterator.checkpoints()[0], "dali_epoch_ended": self._epoch_ended}
        if self._checkpoint:
            return {"dali_checkpoint": self._checkpoint, "dali_epoch_ended": self._checkpoint_at_epoch_end}
        return {}

    def restore(self, state: dict) -> None:
        self._discard_pipeline()
        self._checkpoint = state.get("dali_checkpoint")
        self._checkpoint_at_epoch_end = bool(state.get("dali_epoch_ended"))

    def abandon(self) -> None:
        if self._iterator is None:
            return
        self._feeder.stop()
        try:
            for _ in self._iterator:  # only the batches DALI already prefetched remain
                pass
        except Exception:
            self._discard_pipeline()

    def _discard_pipeline(self) -> None:
        """Stop the pipeline (after an error DALI's pipeline is unusable); the next epoch builds a new one."""
        self._feeder.stop()
        _shut_down(self._iterator)
        self._iterator = None

    def release(self) -> None:
        self._discard_pipeline()
        self._feeder.close()  # and wait for its reader threads to end


def _shut_down(iterator) -> None:
    """Stop the iterator's DALI pipelines now, in this thread. Dropping the reference is not enough:
    an error's traceback can keep a pipeline alive until a garbage collection that may run on one of
    DALI's own threads (the feeder and the torch resampler run Python there), where
    `Pipeline.__del__` cannot join them ("Resource deadlock avoided"). Shutting down twice is a no-op."""
    for pipe in getattr(iterator, "_pipes", None) or []:
        shutdown = getattr(pipe, "_shutdown", None)  # what DALI's own exit hook and __del__ call
        if shutdown is not None:
            shutdown()

