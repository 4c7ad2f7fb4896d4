"""Per-sample random parameters of the train transform, drawn once and shared by both backends.

torchvision's algorithms (RandomResizedCrop.get_params, RandomCrop with padding, the flip coin,
ColorJitter.get_params), vectorized over a batch and driven by a counter-based generator keyed by
each sample's seed from the epoch plan. So:

- DALI and torchvision apply the *same* crop box, flip and jitter factors to the same sample, and
  their train outputs can be compared pixel by pixel;
- the parameters of a sample depend only on (seed, epoch, position): not on threads, workers or
  where a resumed run restarted.

DALI's own random crop is not used: it draws the aspect ratio uniformly (not log-uniformly) and falls
back to a square crop, a different distribution from torchvision's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import TrainTransform

ATTEMPTS = 10
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def uniforms(seeds, count: int) -> np.ndarray:
    """(n, count) uniforms in [0, 1): splitmix64 of (seed, k), a counter-based stream."""
    seeds = np.asarray(seeds, dtype=np.int64).astype(np.uint64).reshape(-1, 1)
    with np.errstate(over="ignore"):
        z = seeds * np.uint64(0x9E3779B97F4A7C15) + (np.arange(1, count + 1, dtype=np.uint64) *
                                                    np.uint64(0xBF58476D1CE4E5B9))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


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


@dataclass(frozen=True)
class TrainParams:
    """Per-sample parameters of one batch; every array has the batch as its first axis."""

    window: np.ndarray  # (n, 4) int: top, left, height, width (may reach outside for pad_crop)
    flip: np.ndarray  # (n,) bool
    jitter: np.ndarray  # (n, 4) float: brightness, contrast, saturation factors, hue shift (turns)
    jitter_order: np.ndarray  # (n, 4) int: a permutation of 0..3 (torchvision's random order)


# Uniforms used per sample, in this order: window (22), flip (1), jitter apply (1), factors (4), order (4).
_WINDOW, _FLIP, _APPLY, _FACTORS, _ORDER, _TOTAL = 0, 22, 23, 24, 28, 32


def draw_train_params(cfg: TrainTransform, hw: np.ndarray, seeds) -> TrainParams:
    """Parameters for samples of sizes `hw` (n, 2) from their seeds (n,)."""
    hw = np.asarray(hw, dtype=np.int64).reshape(-1, 2)
    u = uniforms(seeds, _TOTAL)
    if cfg.geometry == "pad_crop":
        window = pad_crop_windows(hw, cfg.padding, u[:, _WINDOW:_FLIP])
    else:
        window = random_resized_crop_windows(hw, cfg.scale, cfg.ratio, u[:, _WINDOW:_FLIP])
    flip = u[:, _FLIP] < cfg.hflip
    jitter = np.tile(np.array([1.0, 1.0, 1.0, 0.0]), (len(hw), 1))
    if cfg.color_jitter is not None:
        cj = cfg.color_jitter
        for k, name in enumerate(("brightness", "contrast", "saturation")):
            lo, hi = cj.factor_range(name)
            jitter[:, k] = lo + u[:, _FACTORS + k] * (hi - lo)
        jitter[:, 3] = cj.hue * (2 * u[:, _FACTORS + 3] - 1)
        skipped = u[:, _APPLY] >= cj.p
        jitter[skipped] = [1.0, 1.0, 1.0, 0.0]
    order = np.argsort(u[:, _ORDER:_TOTAL], axis=1)
    return TrainParams(window=window, flip=flip, jitter=jitter, jitter_order=order)
