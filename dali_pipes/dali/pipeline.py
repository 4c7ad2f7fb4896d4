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

from ..config import Preprocess, TrainTransform
from ..params import draw_train_params
from ..sampling import EpochPlan
from ..sources import check_encoded
from ..sources.header import image_size
from . import graph


class BatchFeeder:
    """The external source's callback: batch `info.iteration` of the current epoch's plan, with the
    per-sample train parameters when training."""

    def __init__(self, source, plan: EpochPlan, train_cfg: TrainTransform | None):
        self.source = source
        self.plan = plan
        self.train_cfg = train_cfg
        self._batches: list[np.ndarray] = []
        self._seeds: np.ndarray | None = None
        self._first = 0
        self._stopped = True
        # Sample indices of batches handed to DALI and not yet delivered to the user, oldest first:
        # a decode error belongs to the oldest one.
        self.in_flight: deque[np.ndarray] = deque()

    @property
    def num_outputs(self) -> int:
        """images, labels; for training also window anchor, window shape, flip, and jitter factors."""
        if self.train_cfg is None:
            return 2
        return 6 if self.train_cfg.color_jitter is not None else 5

    def start_epoch(self, epoch: int, first_batch: int = 0) -> None:
        self._batches = self.plan.batches(epoch)
        self._seeds = self.plan.sample_seeds(epoch) if self.train_cfg is not None else None
        self._first = first_batch
        self._stopped = False
        self.in_flight.clear()

    def stop(self) -> None:
        """End the epoch early: the next call raises StopIteration."""
        self._stopped = True

    def __call__(self, info):
        batch = self._first + info.iteration
        if self._stopped or batch >= len(self._batches):
            raise StopIteration
        indices = self._batches[batch]
        self.in_flight.append(indices)
        if hasattr(self.source, "read_batch"):
            datas = self.source.read_batch(indices)
        else:
            datas = [self.source.read(int(i)) for i in indices]
        samples = [self._sample(data, int(i)) for data, i in zip(datas, indices)]
        outputs = [samples, np.ascontiguousarray(self.source.targets[indices])]
        if self.train_cfg is not None:
            outputs += self._train_params(datas, indices, batch)
        return outputs

    def _sample(self, data, index: int) -> np.ndarray:
        if not self.source.encoded:
            return data  # an HWC uint8 array
        check_encoded(data, self.source.describe(index))
        return np.frombuffer(data, dtype=np.uint8)

    def _train_params(self, datas, indices, batch: int) -> list[np.ndarray]:
        if self.source.encoded:
            hw = [image_size(d, self.source.describe(int(i))) for d, i in zip(datas, indices)]
        else:
            hw = [d.shape[:2] for d in datas]
        start = batch * self.plan.batch_size
        p = draw_train_params(self.train_cfg, np.asarray(hw), self._seeds[start:start + len(indices)])
        params = [p.window[:, :2].astype(np.int32), p.window[:, 2:].astype(np.int32), p.flip.astype(np.int32),
                  p.jitter.astype(np.float32)]
        return params[: self.num_outputs - 2]


def build_pipeline(feeder: BatchFeeder, cfg: Preprocess, *, train: bool, device: str,
                   num_threads: int, device_id: int | None, seed: int, prefetch: int,
                   checkpoint: bytes | None = None):
    """A built pipeline whose outputs are (images, labels), both on `device`.

    Checkpointing is always on (DALI: no cost): a checkpoint restores the random streams of the
    graph's own random ops (the auto-augment policies) and the source's batch counter, for resume.
    """

    @pipeline_def(batch_size=feeder.plan.batch_size, num_threads=num_threads, device_id=device_id,
                  seed=seed % (2**31), prefetch_queue_depth=prefetch,
                  enable_conditionals=train and cfg.train.auto_augment is not None,
                  enable_checkpointing=True)
    def classification_pipeline():
        encoded = feeder.source.encoded
        label_type = types.FLOAT if feeder.source.targets.dtype == np.float32 else types.INT64
        dtypes = [types.UINT8, label_type, types.INT32, types.INT32, types.INT32, types.FLOAT]
        layouts = ["" if encoded else "HWC", "", "", "", "", ""]
        outputs = fn.external_source(source=feeder, num_outputs=feeder.num_outputs, batch=True, batch_info=True,
                                     dtype=dtypes[:feeder.num_outputs], layout=layouts[:feeder.num_outputs])
        inputs, labels = outputs[:2]
        params = graph.TrainNodes(*outputs[2:], *([None] * (6 - feeder.num_outputs))) if train else None
        images = graph.preprocess(inputs, cfg, train, device, encoded=encoded, params=params)
        return images, (labels.gpu() if device == "gpu" else labels)

    with warnings.catch_warnings():  # DALI's auto_aug module still calls its own deprecated aliases
        warnings.filterwarnings("ignore", message=r"WARNING: `nvidia\.dali\.fn\.experimental",
                                category=DeprecationWarning)
        pipe = classification_pipeline(checkpoint=checkpoint) if checkpoint else classification_pipeline()
        pipe.build()
    return pipe
