"""`Preprocess` translated to `torchvision.transforms.v2`.

Eval runs the shared eval geometry (dali_pipes.kernels.tv: torchvision's own Resize + CenterCrop
kernels). Train runs each op's `v2.functional` kernel (dali_pipes.ops) with parameters from
`dali_pipes.params` (torchvision's sampling algorithms, keyed by the sample's seed), so the DALI
backend can apply the very same crop, flip, jitter, grey and blur to the same sample.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

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
        self.normalize = _normalize(cfg)

    def batch(self, images: list[torch.Tensor], seeds) -> list[torch.Tensor]:
        """A batch's samples, their parameters drawn at once (the draws are keyed by each seed alone)."""
        params = draw_train_params(self.cfg, [tuple(image.shape[-2:]) for image in images], seeds)
        out = []
        for i, image in enumerate(images):
            values = params.sample(i)
            for op in self.ops:
                image = op.torch(image, values, self.cfg)
            out.append(self.normalize(image))
        return out


def _normalize(cfg: Preprocess):
    """uint8 (3, H, W) -> normalized, in the configured dtype: torchvision's own kernels (ToDtype with
    scale, then Normalize), called directly rather than through transform modules."""
    norm = cfg.normalize
    mean, std, dtype = list(norm.mean), list(norm.std), torch_dtype(norm.dtype)

    def normalize(image: torch.Tensor) -> torch.Tensor:
        pixels = F.normalize_image(F.to_dtype_image(image, torch.float32, scale=True), mean=mean, std=std)
        return pixels if dtype == torch.float32 else pixels.to(dtype)

    return normalize


def build_eval_transform(cfg: Preprocess):
    """Resize and crop as `cfg.eval` says (torchvision's kernels), then normalize."""
    geometry, normalize = EvalGeometry(cfg), _normalize(cfg)
    return lambda image: normalize(geometry(image))
