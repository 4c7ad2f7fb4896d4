"""`Preprocess` translated to `torchvision.transforms.v2`.

Eval runs the shared eval geometry (dali_pipes.kernels.tv: torchvision's own Resize + CenterCrop
kernels). Train runs each op's `v2.functional` kernel (dali_pipes.ops) with parameters from
`dali_pipes.params` (torchvision's sampling algorithms, keyed by the sample's seed), so the DALI
backend can apply the very same crop, flip, jitter, grey and blur to the same sample.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

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

    def __call__(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        values = draw_train_params(self.cfg, [tuple(image.shape[-2:])], [seed]).sample(0)
        for op in self.ops:
            image = op.torch(image, values, self.cfg)
        return self.normalize(image)


def _normalize(cfg: Preprocess) -> v2.Compose:
    norm = cfg.normalize
    return v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(norm.mean), std=list(norm.std)),
        v2.ToDtype(torch_dtype(norm.dtype)),
    ])


def build_eval_transform(cfg: Preprocess) -> v2.Compose:
    """Resize and crop as `cfg.eval` says (torchvision's kernels), then normalize."""
    return v2.Compose([EvalGeometry(cfg), _normalize(cfg)])
