"""The DALI pipeline: a batch feeder (the source side) joined with the preprocessing graph.

Samples enter through `fn.external_source` in batch mode. The feeder reads the encoded bytes of
the batches that `EpochPlan` lists for the current epoch, so the order, the short last batch and
`drop_last` are decided in one place for both backends, and DALI's own end-of-epoch signal
(StopIteration from the source) drives the iterator.
"""

from __future__ import annotations

import warnings
from collections import deque

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from ..config import Preprocess
from ..sampling import EpochPlan
from ..sources import check_encoded
from . import graph


class BatchFeeder:
    """The external source's callback: batch `info.iteration` of the current epoch's plan."""

    def __init__(self, source, plan: EpochPlan):
        self.source = source
        self.plan = plan
        self._batches: list[np.ndarray] = []
        self._stopped = True
        # Sample indices of batches handed to DALI and not yet delivered to the user, oldest first:
        # a decode error belongs to the oldest one.
        self.in_flight: deque[np.ndarray] = deque()

    def start_epoch(self, epoch: int) -> None:
        self._batches = self.plan.batches(epoch)
        self._stopped = False
        self.in_flight.clear()

    def stop(self) -> None:
        """End the epoch early: the next call raises StopIteration."""
        self._stopped = True

    def __call__(self, info):
        if self._stopped or info.iteration >= len(self._batches):
            raise StopIteration
        indices = self._batches[info.iteration]
        self.in_flight.append(indices)
        if hasattr(self.source, "read_batch"):
            datas = self.source.read_batch(indices)
        else:
            datas = [self.source.read(int(i)) for i in indices]
        samples = [self._sample(data, int(i)) for data, i in zip(datas, indices)]
        return samples, np.ascontiguousarray(self.source.targets[indices])

    def _sample(self, data, index: int) -> np.ndarray:
        if not self.source.encoded:
            return data  # an HWC uint8 array
        check_encoded(data, self.source.describe(index))
        return np.frombuffer(data, dtype=np.uint8)


def build_pipeline(feeder: BatchFeeder, cfg: Preprocess, *, train: bool, device: str,
                   num_threads: int, device_id: int | None, seed: int, prefetch: int):
    """A built pipeline whose outputs are (images, labels), both on `device`."""

    @pipeline_def(batch_size=feeder.plan.batch_size, num_threads=num_threads, device_id=device_id,
                  seed=seed % (2**31), prefetch_queue_depth=prefetch,
                  enable_conditionals=train and cfg.train.auto_augment is not None)
    def classification_pipeline():
        encoded = feeder.source.encoded
        inputs, labels = fn.external_source(
            source=feeder, num_outputs=2, batch=True, batch_info=True,
            dtype=[types.UINT8, types.FLOAT if feeder.source.targets.dtype == np.float32 else types.INT64],
            layout=["", ""] if encoded else ["HWC", ""])
        images = graph.preprocess(inputs, cfg, train, device, encoded=encoded)
        return images, (labels.gpu() if device == "gpu" else labels)

    with warnings.catch_warnings():  # DALI's auto_aug module still calls its own deprecated aliases
        warnings.filterwarnings("ignore", message=r"WARNING: `nvidia\.dali\.fn\.experimental",
                                category=DeprecationWarning)
        pipe = classification_pipeline()
        pipe.build()
    return pipe
