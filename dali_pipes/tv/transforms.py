"""`Preprocess` translated to `torchvision.transforms.v2`.

Eval runs the shared eval geometry (dali_pipes.kernels.tv: torchvision's own Resize + CenterCrop
kernels). Train runs each op's `v2.functional` kernel (dali_pipes.ops) with parameters from
`dali_pipes.params` (torchvision's sampling algorithms, keyed by the sample's seed), so the DALI
backend can apply the very same crop, flip, jitter, grey and blur to the same sample.

Both write each normalized sample straight into its row of the batch, which inside a DataLoader
worker lives in shared memory: the batch reaches the main process without the copy `default_collate`
would make (a tenth of a worker's time on the RandAugment recipe).
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import get_worker_info

from ..config import Preprocess
from ..kernels.tv import EvalGeometry, torch_dtype
from ..ops import active_ops
from ..params import draw_train_params


class TrainKernel:
    """The train transform: each active op's torchvision kernel (dali_pipes.ops, in registry order)
    with the parameters `dali_pipes.params` draws for the sample - the same ones the DALI backend
    applies, the auto-augment policy's ops included."""

    def __init__(self, cfg: Preprocess):
        self.cfg = cfg.train
        self.ops = active_ops(cfg.train)
        self.normalize = Normalize(cfg)

    def batch(self, images: list[torch.Tensor], seeds) -> torch.Tensor:
        """A batch's samples, normalized, as one (N, 3, H, W) tensor; their parameters drawn at once
        (the draws are keyed by each seed alone)."""
        params = draw_train_params(self.cfg, [tuple(image.shape[-2:]) for image in images], seeds)
        out = []
        for i, image in enumerate(images):
            values = params.sample(i)
            for op in self.ops:
                image = op.torch(image, values, self.cfg)
            out.append(image)
        return self.normalize.batch(out)


class EvalKernel:
    """Resize and crop as `cfg.eval` says (torchvision's kernels), then normalize."""

    def __init__(self, cfg: Preprocess):
        self.geometry, self.normalize = EvalGeometry(cfg), Normalize(cfg)

    def batch(self, images: list[torch.Tensor]) -> torch.Tensor:
        return self.normalize.batch([self.geometry(image) for image in images])


class Normalize:
    """uint8 (3, H, W) -> normalized, in the configured dtype: torchvision's arithmetic (ToDtype with
    scale, then Normalize: x / 255, - mean, / std, in float32), each sample written into its row."""

    def __init__(self, cfg: Preprocess):
        norm = cfg.normalize
        self.dtype = torch_dtype(norm.dtype)
        self.mean = torch.tensor(norm.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(norm.std, dtype=torch.float32).view(-1, 1, 1)

    def batch(self, images: list[torch.Tensor]) -> torch.Tensor:
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) != 1:  # nothing to batch (an empty batch), or sizes that cannot stack: collate refuses
            return torch.stack([self.one(image) for image in images]) if images else torch.empty(0)
        out = batch_buffer((len(images), *shapes.pop()), self.dtype)
        scratch = None if self.dtype == torch.float32 else torch.empty(out.shape[1:], dtype=torch.float32)
        for row, image in zip(out, images):
            self.into(image, row if scratch is None else scratch)
            if scratch is not None:
                row.copy_(scratch)
        return out

    def one(self, image: torch.Tensor) -> torch.Tensor:
        pixels = torch.empty(image.shape, dtype=torch.float32)
        self.into(image, pixels)
        return pixels if self.dtype == torch.float32 else pixels.to(self.dtype)

    def into(self, image: torch.Tensor, out: torch.Tensor) -> None:
        """`out` (float32) = (image / 255 - mean) / std, with torchvision's operations in its order."""
        out.copy_(image).mul_(1.0 / 255).sub_(self.mean).div_(self.std)


def batch_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor for a batch: in shared memory inside a DataLoader worker (as default_collate
    allocates its output there), else ordinary memory."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    elem = torch.empty(0, dtype=dtype)
    storage = elem._typed_storage()._new_shared(math.prod(shape), device=elem.device)
    return elem.new(storage).resize_(shape)
