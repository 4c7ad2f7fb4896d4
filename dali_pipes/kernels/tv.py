"""torchvision's kernels as the torchvision backend, the torch resampler inside DALI's CPU graph and the
batch stage all run them: resampling (the config's interpolation names mapped to torchvision's
modes, antialiased), the eval geometry, timm's border fill, box masks, output dtypes, and the
intra-op thread count they run with."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

INTERPOLATION_MODES = {"bilinear": F.InterpolationMode.BILINEAR, "bicubic": F.InterpolationMode.BICUBIC,
                       "nearest": F.InterpolationMode.NEAREST_EXACT}  # PIL's nearest (pixel centres)

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    return _TORCH_DTYPES[name]


def resize(image: torch.Tensor, size, interpolation: str = "bilinear") -> torch.Tensor:
    """torchvision's resize, antialiased when it downscales (as PIL and timm's reference pipelines)."""
    return F.resize(image, size, interpolation=INTERPOLATION_MODES[interpolation], antialias=True)


def resize_if_needed(image: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize to `size` x `size` unless the image already is (no upscaling of CIFAR by default)."""
    if tuple(image.shape[-2:]) == (size, size):
        return image
    return resize(image, [size, size], interpolation)


def border_fill(mean) -> list[int]:
    """timm's padding colour for crop_mode="border": the mean in 0..255 (normalizes to 0)."""
    return [round(255 * m) for m in mean]


def eval_resize_crop(image: torch.Tensor, cfg, fill: list[int]) -> torch.Tensor:
    """The eval geometry of `cfg` (an EvalTransform) on a (3, H, W) uint8 image: timm's
    transforms_imagenet_eval, on tensors. "center": Resize(resize_size) + CenterCrop; "squash": both
    sides to resize_size, then CenterCrop; "border": the longer side to resize_size (timm's
    ResizeKeepRatio), then timm's CenterCropOrPad with `fill`."""
    if cfg.crop_mode == "center":
        image = resize(image, cfg.resize_size, cfg.interpolation)
    elif cfg.crop_mode == "squash":
        image = resize(image, [cfg.resize_size, cfg.resize_size], cfg.interpolation)
    else:
        h, w = image.shape[-2:]
        ratio = max(h / cfg.resize_size, w / cfg.resize_size)
        image = resize(image, [round(h / ratio), round(w / ratio)], cfg.interpolation)
        h, w = image.shape[-2:]
        if h < cfg.size or w < cfg.size:
            dw, dh = max(cfg.size - w, 0), max(cfg.size - h, 0)
            image = F.pad(image, [dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2], fill=fill)
    return F.center_crop(image, [cfg.size, cfg.size])


class EvalGeometry:
    """`eval_resize_crop` of a Preprocess's eval as a transform (picklable, for DataLoader workers and
    DALI's python op)."""

    def __init__(self, cfg):
        self.cfg = cfg.eval
        self.fill = border_fill(cfg.normalize.mean)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return eval_resize_crop(image, self.cfg, self.fill)


@contextmanager
def intra_op_threads(count: int):
    """torch's intra-op threads set to `count` for the block, the caller's count restored after it
    (also after an error): kernels that must not spread over cores others keep busy, or that are
    timed on one core."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def box_mask(boxes: np.ndarray, height: int, width: int, device) -> torch.Tensor:
    """(B, 1, H, W) bool: inside each sample's (top, left, height, width) box."""
    b = torch.as_tensor(boxes, device=device)
    ys = torch.arange(height, device=device).view(1, height, 1)
    xs = torch.arange(width, device=device).view(1, 1, width)
    top, left, h, w = (b[:, k].view(-1, 1, 1) for k in range(4))
    return ((ys >= top) & (ys < top + h) & (xs >= left) & (xs < left + w)).unsqueeze(1)
