"""The one stage that finishes every batch, the same for both engines: the configured dtype, the
batch-level augmentations of the registry (random erasing), MixUp/CutMix, and the memory layout.

Its random numbers come from (seed, epoch, plan batch index, rank), so a resumed run repeats them."""

from __future__ import annotations

import numpy as np
import torch

from .config import Preprocess
from .kernels.tv import intra_op_threads, torch_dtype
from .ops import active_batch_ops


class OutputStage:
    def __init__(self, preprocess: Preprocess, train: bool, mix=None, keep_dtype: bool = False,
                 pin_memory: bool = False):
        """`keep_dtype`: batches keep the dtype they come in (the user's own transform made them);
        `pin_memory`: CPU batches are handed out in page-locked memory (CUDA present)."""
        self.pin_memory = pin_memory
        self.dtype = None if keep_dtype else torch_dtype(preprocess.normalize.dtype)
        self.channels_last = preprocess.normalize.channels_last
        self.train_cfg = preprocess.train
        self.batch_ops = active_batch_ops(preprocess.train) if train else []
        self.mix = mix

    def finish(self, images: torch.Tensor, labels: torch.Tensor, plan, epoch: int, index: int):
        """A batch from the engine (normalized (B, 3, H, W), float32 or float16) -> what the loader
        yields. On the CPU with one intra-op thread: the engine's workers or threads already keep
        the cores busy, and torch's other threads would only contend with them (random erasing's
        noise cost the training thread 3x the CPU time with 2 threads beside 2 busy workers)."""
        if images.device.type != "cpu":
            return self._finish(images, labels, plan, epoch, index)
        with intra_op_threads(1):
            return self._finish(images, labels, plan, epoch, index)

    def _finish(self, images, labels, plan, epoch, index):
        # bfloat16 is made here: the engines emit float32/float16
        if self.dtype is not None and images.dtype != self.dtype:
            images = images.to(self.dtype)
        if self.batch_ops or self.mix is not None:
            rng = np.random.default_rng([plan.seed, epoch, index, 2, plan.shard_id])
            # the engines hand over a batch of their own (DALI's iterator and the DataLoader's collate
            # allocate each one), so the batch ops write into it
            for op in self.batch_ops:
                images = op.apply(images, getattr(self.train_cfg, op.field), rng, in_place=True)
            if self.mix is not None:
                images, labels = self.mix(images, labels, rng, in_place=True)
        images = self.in_layout(images)
        if self.pin_memory and images.device.type == "cpu":
            images, labels = images.pin_memory(), labels.pin_memory()
        return images, labels

    def in_layout(self, images: torch.Tensor) -> torch.Tensor:
        """NHWC memory when `normalize.channels_last` (the logical shape stays (B, 3, H, W)); a no-op
        for a batch already in it."""
        if self.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images
