"""The crop window: torchvision's RandomResizedCrop.get_params, or RandomCrop with padding.

Drawn here, applied by the graph itself (stage "geometry"): on DALI the window is fused with the
decode (`decoders.image_slice`) and the resize, see dali_pipes.dali.graph.crop_window. DALI's own
random crop is not used: it draws the aspect ratio uniformly (not log-uniformly) and falls back to
a square crop, a different distribution from torchvision's.
"""

from __future__ import annotations

import math

import numpy as np
from torchvision.transforms.v2 import functional as F

from ..constants import RANDOM_FILTERS
from ..kernels.tv import INTERPOLATION_MODES, resize_if_needed
from .base import Feed, SampleOp

ATTEMPTS = 10


def _randint(u: np.ndarray, low, high_exclusive) -> np.ndarray:
    return (low + np.floor(u * (high_exclusive - low))).astype(np.int64)


def random_resized_crop_windows(hw: np.ndarray, scale, ratio, u: np.ndarray) -> np.ndarray:
    """torchvision's RandomResizedCrop.get_params for each (H, W): (n, 4) top, left, height, width.

    `u` holds 2 * ATTEMPTS + 2 uniforms per sample: area and log-aspect per attempt, then the offsets.
    """
    height, width = hw[:, 0:1].astype(np.float64), hw[:, 1:2].astype(np.float64)
    area = height * width
    target = area * (scale[0] + u[:, :ATTEMPTS] * (scale[1] - scale[0]))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = np.exp(log_lo + u[:, ATTEMPTS:2 * ATTEMPTS] * (log_hi - log_lo))
    w = np.round(np.sqrt(target * aspect))  # Python's round: half to even, as numpy's
    h = np.round(np.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = np.argmax(fits, axis=1)
    rows = np.arange(len(hw))
    found = fits[rows, first]
    h, w = h[rows, first].astype(np.int64), w[rows, first].astype(np.int64)
    H, W = hw[:, 0].astype(np.int64), hw[:, 1].astype(np.int64)
    top = _randint(u[:, 2 * ATTEMPTS], 0, H - h + 1)
    left = _randint(u[:, 2 * ATTEMPTS + 1], 0, W - w + 1)
    # torchvision's fallback: a central crop with the aspect ratio clamped into `ratio`
    in_ratio = W / H
    fb_w = np.where(in_ratio < ratio[0], W, np.where(in_ratio > ratio[1], np.round(H * ratio[1]), W))
    fb_h = np.where(in_ratio < ratio[0], np.round(W / ratio[0]), H)
    fb_w, fb_h = fb_w.astype(np.int64), fb_h.astype(np.int64)
    return np.stack([np.where(found, top, (H - fb_h) // 2), np.where(found, left, (W - fb_w) // 2),
                     np.where(found, h, fb_h), np.where(found, w, fb_w)], axis=1)


def pad_crop_windows(hw: np.ndarray, padding: int, u: np.ndarray) -> np.ndarray:
    """RandomCrop(own size, padding): the window's top-left moves by -padding..padding (zero fill)."""
    dy = _randint(u[:, 0], -padding, padding + 1)
    dx = _randint(u[:, 1], -padding, padding + 1)
    return np.stack([dy, dx, hw[:, 0], hw[:, 1]], axis=1).astype(np.int64)


class Crop(SampleOp):
    """`window`: (n, 4) int top, left, height, width (a pad-crop window may reach outside)."""

    stream, offset, draws = 0, 0, 2 * ATTEMPTS + 2
    feeds = (Feed("anchor", "int32", (2,)), Feed("shape", "int32", (2,)))
    stage = "geometry"

    def draw(self, cfg, hw, u):
        if cfg.geometry == "pad_crop":
            return {"window": pad_crop_windows(hw, cfg.padding, u)}
        return {"window": random_resized_crop_windows(hw, cfg.scale, cfg.ratio, u)}

    def feed(self, values, cfg):
        window = values["window"].astype(np.int32)
        return {"anchor": np.ascontiguousarray(window[:, :2]), "shape": np.ascontiguousarray(window[:, 2:])}

    def torch(self, image, values, cfg):
        top, left, height, width = (int(v) for v in values["window"])
        interpolation = sample_filter(cfg, values)
        if cfg.geometry == "pad_crop":  # zero fill outside
            return resize_if_needed(F.crop(image, top, left, height, width), cfg.size, interpolation)
        return F.resized_crop(image, top, left, height, width, [cfg.size, cfg.size],
                              interpolation=INTERPOLATION_MODES[interpolation], antialias=True)


def sample_filter(cfg, values) -> str:
    """The crop's resize filter for one sample: the config's, or its drawn one under "random"."""
    return RANDOM_FILTERS[int(values["resize_filter"])] if cfg.interpolation == "random" else cfg.interpolation


class ResizeFilter(SampleOp):
    """`resize_filter`: (n,) int32 index into RANDOM_FILTERS, drawn only under
    `TrainTransform(interpolation="random")`: timm's RandomResizedCropAndInterpolation picks
    bilinear or bicubic per sample (`random.choice`). The graph's resize reads it (stage "geometry")."""

    stream, offset, draws = 0, 32, 1
    feeds = (Feed("resize_filter", "int32", ()),)
    stage = "geometry"

    @property
    def name(self) -> str:
        return "resize_filter"

    def active(self, cfg) -> bool:
        return cfg.interpolation == "random"

    def draw(self, cfg, hw, u):
        return {"resize_filter": np.minimum((u[:, 0] * len(RANDOM_FILTERS)).astype(np.int64), len(RANDOM_FILTERS) - 1)}
