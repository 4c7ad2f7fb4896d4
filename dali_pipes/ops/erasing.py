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
from .base import BatchOp

ATTEMPTS = 10


VALUES = ("random", "random_color")  # per-pixel noise (timm's 'pixel'), one colour per box (timm's 'rand')


@dataclass(frozen=True)
class RandomErasing:
    """torchvision/timm RandomErasing on the normalized batch: with probability `p`, up to `count`
    boxes (timm's re_count: the image's count drawn from 1..count, each box's area divided by it),
    each of area fraction in `scale` and aspect ratio in `ratio` (log-uniform), 10 attempts, filled
    with `value`: a number in normalized units (timm's 'const' is 0), "random" (per-pixel normal
    noise, timm's 'pixel') or "random_color" (one normal colour per box, timm's 'rand').
    `splits > 1` leaves the first batch // splits samples of each batch clean (timm's re_split)."""

    p: float = 0.25
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | str = 0.0
    count: int = 1
    splits: int = 0

    def __post_init__(self):
        probability(self.p, "RandomErasing.p")
        scale = pair(self.scale, "RandomErasing.scale")
        require(0 < scale[0] and scale[1] <= 1, "RandomErasing.scale", f"must lie in (0, 1], got {scale}")
        ratio = pair(self.ratio, "RandomErasing.ratio")
        require(ratio[0] > 0, "RandomErasing.ratio", f"must be > 0, got {ratio}")
        require(self.value in VALUES or (isinstance(self.value, (int, float)) and not isinstance(self.value, bool)),
                "RandomErasing.value", f"must be a number, 'random' or 'random_color', got {self.value!r}")
        require(isinstance(self.count, int) and not isinstance(self.count, bool) and self.count >= 1,
                "RandomErasing.count", f"must be an integer >= 1, got {self.count!r}")
        require(isinstance(self.splits, int) and not isinstance(self.splits, bool) and self.splits >= 0,
                "RandomErasing.splits", f"must be an integer >= 0, got {self.splits!r}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "ratio", ratio)


@dataclass(frozen=True)
class ErasingParams:
    boxes: np.ndarray  # (B, count, 4) int: top, left, height, width; height 0 where nothing is erased
    noise_seed: int
    colors: np.ndarray | None = None  # (B, count, 3) normal colours for value="random_color"


def make_params(cfg: RandomErasing, batch: int, height: int, width: int, rng: np.random.Generator) -> ErasingParams:
    """timm's RandomErasing for each sample (torchvision's get_params when count is 1): per box 10
    attempts, else no box."""
    area = height * width
    counts = np.ones(batch, dtype=np.int64) if cfg.count == 1 else rng.integers(1, cfg.count + 1, size=batch)
    boxes = np.zeros((batch, cfg.count, 4), dtype=np.int64)
    rows = np.arange(batch)
    erase = None
    for k in range(cfg.count):
        target = area * rng.uniform(cfg.scale[0], cfg.scale[1], size=(batch, ATTEMPTS)) / counts[:, None]
        aspect = np.exp(rng.uniform(math.log(cfg.ratio[0]), math.log(cfg.ratio[1]), size=(batch, ATTEMPTS)))
        h = np.round(np.sqrt(target * aspect)).astype(np.int64)
        w = np.round(np.sqrt(target / aspect)).astype(np.int64)
        fits = (h < height) & (w < width)
        first = np.argmax(fits, axis=1)
        h, w = h[rows, first], w[rows, first]
        if erase is None:  # the image's coin (drawn once, where torchvision's single box draws it)
            erase = rng.random(batch) < cfg.p
        on = erase & fits[rows, first] & (k < counts)
        top = np.floor(rng.random(batch) * (height - h + 1)).astype(np.int64)
        left = np.floor(rng.random(batch) * (width - w + 1)).astype(np.int64)
        boxes[:, k] = np.stack([top, left, np.where(on, h, 0), np.where(on, w, 0)], axis=1)
    if cfg.splits > 1:  # the clean split
        boxes[: batch // cfg.splits, :, 2:] = 0
    colors = rng.standard_normal((batch, cfg.count, 3)) if cfg.value == "random_color" else None
    return ErasingParams(boxes=boxes, noise_seed=int(rng.integers(0, 2**62)), colors=colors)


def apply(images: torch.Tensor, params: ErasingParams, cfg: RandomErasing, *, in_place: bool = False) -> torch.Tensor:
    """`in_place` may write into `images` (the loader's own batch). Each box's slice is filled, later
    boxes over earlier ones, nothing else touched: with the constant, the box's colour, or normal
    noise from the box's own generator (seeded from the batch's noise seed and the box's place, so a
    box's noise does not depend on the other boxes, and only the erased pixels are drawn)."""
    out = images if in_place else images.clone()
    seeds = np.random.default_rng(params.noise_seed).integers(0, 2**62, size=params.boxes.shape[:2])
    for i, k in zip(*np.nonzero((params.boxes[:, :, 2] > 0) & (params.boxes[:, :, 3] > 0))):
        top, left, height, width = params.boxes[i, k].tolist()
        if cfg.value == "random":
            generator = torch.Generator(device=images.device).manual_seed(int(seeds[i, k]))
            fill = torch.randn((images.shape[1], height, width), generator=generator, device=images.device)
        elif params.colors is not None:
            fill = torch.as_tensor(params.colors[i, k], dtype=torch.float32).view(-1, 1, 1)
        else:
            fill = torch.tensor(float(cfg.value))
        out[i, :, top:top + height, left:left + width] = fill.to(images.device, images.dtype)  # as the dtype holds it
    return out


def random_erasing(images: torch.Tensor, cfg: RandomErasing, rng: np.random.Generator, *,
                   in_place: bool = False) -> torch.Tensor:
    params = make_params(cfg, images.shape[0], images.shape[-2], images.shape[-1], rng)
    return apply(images, params, cfg, in_place=in_place)


class Erasing(BatchOp):
    field, config = "random_erasing", RandomErasing
    timm_args = ("re_prob", "re_mode", "re_count", "re_split")

    def apply(self, images, settings, rng, *, in_place=False):
        return random_erasing(images, settings, rng, in_place=in_place)

    def add_arguments(self, parser):
        parser.add_argument("--erasing", type=float, default=None, metavar="P", help="random erasing probability")

    def from_arguments(self, args):
        return RandomErasing(p=args.erasing) if args.erasing else None

    def from_timm(self, args):
        """timm's re_prob, re_mode ('const', timm's default: zeros; 'pixel': per-pixel normal noise;
        'rand': one normal colour per box), re_count and re_split (timm's RandomErasing: area up to 1/3)."""
        if not args.get("re_prob"):
            return None
        mode = args.get("re_mode", "const")
        values = {"const": 0.0, "pixel": "random", "rand": "random_color"}
        if mode not in values:
            raise ConfigError(f"from_timm: re_mode {mode!r} is not supported ({', '.join(values)})")
        return RandomErasing(p=args["re_prob"], scale=(0.02, 1 / 3), value=values[mode],
                             count=int(args.get("re_count", 1)), splits=2 if args.get("re_split") else 0)
