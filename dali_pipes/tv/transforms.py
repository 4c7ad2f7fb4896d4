"""`Preprocess` translated to `torchvision.transforms.v2`.

Eval runs the shared eval geometry (dali_pipes.kernels.tv.EvalGeometry: torchvision's own Resize +
CenterCrop kernels). Train runs each op's `v2.functional` kernel (dali_pipes.ops) with parameters from
`dali_pipes.params` (torchvision's sampling algorithms, keyed by the sample's seed), so the DALI
backend can apply the very same crop, flip, jitter, grey and blur to the same sample.

`Normalize` writes each sample straight into its row of the batch, inside a DataLoader worker in
shared memory the worker reuses (tv.pool): the batch reaches the main process without the copy
`default_collate` would make, nor a fresh segment per batch.
"""

from __future__ import annotations

import torch

from ..config import Preprocess
from ..kernels.tv import torch_dtype
from ..ops import active_ops
from ..params import draw_train_params
from .pool import BatchPool, Lease


class TrainKernel:
    """The train transform: each active op's torchvision kernel (dali_pipes.ops, in registry order)
    with the parameters `dali_pipes.params` draws for the sample - the same ones the DALI backend
    applies, the auto-augment policy's ops included."""

    def __init__(self, cfg: Preprocess):
        self.cfg = cfg.train
        self.ops = active_ops(cfg.train)

    def batch(self, images: list[torch.Tensor], seeds) -> list[torch.Tensor]:
        """A batch's uint8 samples, augmented; their parameters drawn at once (the draws are keyed
        by each seed alone)."""
        params = draw_train_params(self.cfg, [tuple(image.shape[-2:]) for image in images], seeds)
        out = []
        for i, image in enumerate(images):
            values = params.sample(i)
            for op in self.ops:
                image = op.torch(image, values, self.cfg)
            out.append(image)
        return out


class Normalize:
    """uint8 (3, H, W) -> normalized, in the configured dtype: torchvision's arithmetic (ToDtype with
    scale, then Normalize: x / 255, - mean, / std, in float32), each sample written into its row of
    the batch (in a DataLoader worker: pool memory, tv.pool)."""

    def __init__(self, cfg: Preprocess):
        norm = cfg.normalize
        self.dtype = torch_dtype(norm.dtype)
        self.mean = torch.tensor(norm.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(norm.std, dtype=torch.float32).view(-1, 1, 1)

    def batch(self, images: list[torch.Tensor], pool: BatchPool | None = None) -> tuple[torch.Tensor, Lease | None]:
        """The (N, 3, H, W) batch, and the lease of its pool segment (None: memory of its own)."""
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) != 1:  # nothing to batch, or sizes that cannot stack: torch.stack says so
            return torch.stack([self.one(image) for image in images]), None
        shape = (len(images), *shapes.pop())
        out, lease = pool.empty(shape, self.dtype) if pool is not None else (torch.empty(shape, dtype=self.dtype), None)
        scratch = None if self.dtype == torch.float32 else torch.empty(shape[1:], dtype=torch.float32)
        for row, image in zip(out, images):
            self.into(image, row if scratch is None else scratch)
            if scratch is not None:
                row.copy_(scratch)
        return out, lease

    def one(self, image: torch.Tensor) -> torch.Tensor:
        pixels = torch.empty(image.shape, dtype=torch.float32)
        self.into(image, pixels)
        return pixels if self.dtype == torch.float32 else pixels.to(self.dtype)

    def into(self, image: torch.Tensor, out: torch.Tensor) -> None:
        """`out` (float32) = (image / 255 - mean) / std, with torchvision's operations in its order."""
        out.copy_(image).mul_(1.0 / 255).sub_(self.mean).div_(self.std)
