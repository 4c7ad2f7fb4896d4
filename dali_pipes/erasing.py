"""Random erasing on a normalized batch (torchvision/timm semantics), on the batch's device.

Parameters are drawn first, for the whole batch at once (`make_params`, numpy), then applied by a
pure, vectorized kernel (`apply`): the same code serves both backends and every device, and the
result is a function of the generator's state alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import RandomErasing

ATTEMPTS = 10


@dataclass(frozen=True)
class ErasingParams:
    boxes: np.ndarray  # (B, 4) int: top, left, height, width; height 0 where nothing is erased
    noise_seed: int


def make_params(cfg: RandomErasing, batch: int, height: int, width: int, rng: np.random.Generator) -> ErasingParams:
    """torchvision's RandomErasing.get_params for each sample: 10 attempts, else no erasing."""
    area = height * width
    target = area * rng.uniform(cfg.scale[0], cfg.scale[1], size=(batch, ATTEMPTS))
    aspect = np.exp(rng.uniform(math.log(cfg.ratio[0]), math.log(cfg.ratio[1]), size=(batch, ATTEMPTS)))
    h = np.round(np.sqrt(target * aspect)).astype(np.int64)
    w = np.round(np.sqrt(target / aspect)).astype(np.int64)
    fits = (h < height) & (w < width)
    first = np.argmax(fits, axis=1)
    rows = np.arange(batch)
    h, w = h[rows, first], w[rows, first]
    erase = fits[rows, first] & (rng.random(batch) < cfg.p)
    top = np.floor(rng.random(batch) * (height - h + 1)).astype(np.int64)
    left = np.floor(rng.random(batch) * (width - w + 1)).astype(np.int64)
    boxes = np.stack([top, left, np.where(erase, h, 0), np.where(erase, w, 0)], axis=1)
    return ErasingParams(boxes=boxes, noise_seed=int(rng.integers(0, 2**62)))


def box_mask(boxes: np.ndarray, height: int, width: int, device) -> torch.Tensor:
    """(B, 1, H, W) bool: inside each sample's (top, left, height, width) box."""
    b = torch.as_tensor(boxes, device=device)
    ys = torch.arange(height, device=device).view(1, height, 1)
    xs = torch.arange(width, device=device).view(1, 1, width)
    top, left, h, w = (b[:, k].view(-1, 1, 1) for k in range(4))
    return ((ys >= top) & (ys < top + h) & (xs >= left) & (xs < left + w)).unsqueeze(1)


def apply(images: torch.Tensor, params: ErasingParams, cfg: RandomErasing) -> torch.Tensor:
    mask = box_mask(params.boxes, images.shape[-2], images.shape[-1], images.device)
    if cfg.value == "random":
        generator = torch.Generator(device=images.device).manual_seed(params.noise_seed)
        fill = torch.randn(images.shape, generator=generator, device=images.device, dtype=torch.float32)
        fill = fill.to(images.dtype)
    else:
        fill = torch.tensor(float(cfg.value), dtype=images.dtype, device=images.device)
    return torch.where(mask, fill, images)


def random_erasing(images: torch.Tensor, cfg: RandomErasing, rng: np.random.Generator) -> torch.Tensor:
    params = make_params(cfg, images.shape[0], images.shape[-2], images.shape[-1], rng)
    return apply(images, params, cfg)
