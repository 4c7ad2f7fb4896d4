"""`TrainTransform.random_erasing`: torchvision/timm RandomErasing on the normalized batch, on the
batch's device.

Parameters are drawn first, for the whole batch at once (`make_params`, numpy), then applied by a
pure, vectorized kernel (`apply`): the same code serves both backends and every device, and the
result is a function of the generator's state alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..checks import pair, probability, require
from ..errors import ConfigError
from ..kernels.tv import box_mask
from .base import BatchOp

ATTEMPTS = 10


@dataclass(frozen=True)
class RandomErasing:
    """torchvision/timm RandomErasing on the normalized batch: with probability `p`, one box of area
    fraction in `scale` and aspect ratio in `ratio` (log-uniform), 10 attempts, filled with `value`
    (a number in normalized units, or "random" for per-pixel normal noise as timm's mode="pixel")."""

    p: float = 0.25
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | str = 0.0

    def __post_init__(self):
        probability(self.p, "RandomErasing.p")
        scale = pair(self.scale, "RandomErasing.scale")
        require(0 < scale[0] and scale[1] <= 1, "RandomErasing.scale", f"must lie in (0, 1], got {scale}")
        ratio = pair(self.ratio, "RandomErasing.ratio")
        require(ratio[0] > 0, "RandomErasing.ratio", f"must be > 0, got {ratio}")
        require(self.value == "random" or isinstance(self.value, (int, float)), "RandomErasing.value",
                f"must be a number or 'random', got {self.value!r}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "ratio", ratio)


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


def apply(images: torch.Tensor, params: ErasingParams, cfg: RandomErasing, *, in_place: bool = False) -> torch.Tensor:
    """`in_place` may write into `images` (the loader's own batch). A constant fills each box's
    slice (nothing else is touched); noise is drawn for the whole batch, so that a pixel's value
    does not depend on the other boxes."""
    if cfg.value != "random":
        out = images if in_place else images.clone()
        fill = torch.tensor(float(cfg.value), dtype=images.dtype)  # the value as the batch's dtype holds it
        for i, (top, left, height, width) in enumerate(params.boxes.tolist()):
            if height > 0 and width > 0:
                out[i, :, top:top + height, left:left + width] = fill
        return out
    mask = box_mask(params.boxes, images.shape[-2], images.shape[-1], images.device)
    generator = torch.Generator(device=images.device).manual_seed(params.noise_seed)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=torch.float32)
    return torch.where(mask, noise.to(images.dtype), images)


def random_erasing(images: torch.Tensor, cfg: RandomErasing, rng: np.random.Generator, *,
                   in_place: bool = False) -> torch.Tensor:
    params = make_params(cfg, images.shape[0], images.shape[-2], images.shape[-1], rng)
    return apply(images, params, cfg, in_place=in_place)


class Erasing(BatchOp):
    field, config = "random_erasing", RandomErasing
    timm_args = ("re_prob", "re_mode")

    def apply(self, images, settings, rng, *, in_place=False):
        return random_erasing(images, settings, rng, in_place=in_place)

    def add_arguments(self, parser):
        parser.add_argument("--erasing", type=float, default=None, metavar="P", help="random erasing probability")

    def from_arguments(self, args):
        return RandomErasing(p=args.erasing) if args.erasing else None

    def from_timm(self, args):
        """timm's re_prob and re_mode ('const', timm's default: zeros; 'pixel': per-pixel normal noise)."""
        if not args.get("re_prob"):
            return None
        mode = args.get("re_mode", "const")
        if mode not in ("pixel", "const"):
            raise ConfigError(f"from_timm: re_mode {mode!r} is not supported ('pixel', 'const')")
        return RandomErasing(p=args["re_prob"], value="random" if mode == "pixel" else 0.0)
