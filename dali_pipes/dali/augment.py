"""Photometric augmentations in the DALI graph: color jitter and the auto-augment policies.

Both run on uint8 HWC images after the geometry, on the GPU or the CPU like the rest of the graph.
Differences from torchvision, by design (see README "Augmentation"):
- jitter applies brightness, contrast, saturation, hue in this fixed order (torchvision draws a
  random order per sample); brightness, contrast and saturation use torchvision's arithmetic exactly;
  DALI's hue rotates the chroma plane in YIQ space, torchvision shifts the HSV hue; the factors
  themselves are the same numbers on both backends (dali_pipes.params);
- the auto-augment policies are DALI's `nvidia.dali.auto_aug` with torchvision's fill (0) and
  translation limits (150/331 of the image side for AutoAugment and RandAugment, 32 px for
  TrivialAugmentWide); solarize thresholds span 256..0 where torchvision's span 255..0.
"""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import AutoAugment, ColorJitter

TORCHVISION_TRANSLATE_REL = 150 / 331


def _on(node, device: str):
    return node.gpu() if device == "gpu" else node


# torchvision's rgb_to_grayscale weights (not DALI's 0.299): contrast and saturation blend with it
_GRAY = np.array([0.2989, 0.587, 0.114], dtype=np.float32)


def _to_uint8(values):
    """Clamp and truncate, as torchvision's `.to(torch.uint8)` after a blend."""
    return fn.cast(dmath.floor(dmath.clamp(values, 0.0, 255.0)), dtype=types.UINT8)


def color_jitter(images, jitter, cfg: ColorJitter, device: str):
    """Apply the sample's factors (drawn by dali_pipes.params) with torchvision's arithmetic:
    brightness x*b; contrast and saturation blends with the floored grayscale (its mean, for
    contrast), truncated to uint8. The hue rotates the YIQ chroma plane (DALI's hue op)."""
    if cfg.brightness > 0:
        images = _to_uint8(fn.cast(images, dtype=types.FLOAT) * _on(jitter[0], device))
    if cfg.contrast > 0:
        c = _on(jitter[1], device)
        pixels = fn.cast(images, dtype=types.FLOAT)
        mean = fn.reductions.mean(_grayscale(pixels))
        images = _to_uint8(pixels * c + mean * (1.0 - c))
    if cfg.saturation > 0:
        s = _on(jitter[2], device)
        pixels = fn.cast(images, dtype=types.FLOAT)
        images = _to_uint8(pixels * s + _grayscale(pixels) * (1.0 - s))
    if cfg.hue > 0:
        images = fn.hue(images, device=device, hue=jitter[3] * 360.0)  # fraction of the wheel -> degrees
    return images


def _grayscale(pixels):
    """(H, W, 1) float: floor(0.2989 R + 0.587 G + 0.114 B), as torchvision for uint8 images."""
    return dmath.floor(fn.reductions.sum(pixels * types.Constant(_GRAY), axes=[2], keep_dims=True))


def auto_augment(images, cfg: AutoAugment, size: int):
    """The named policy on `size` x `size` images (needs a pipeline with conditionals enabled)."""
    from nvidia.dali.auto_aug import auto_augment as aa
    from nvidia.dali.auto_aug import rand_augment as ra
    from nvidia.dali.auto_aug import trivial_augment as ta

    if cfg.policy == "autoaugment":
        return aa.auto_augment(images, policy_name="image_net", shape=[size, size], fill_value=0,
                               max_translate_rel=TORCHVISION_TRANSLATE_REL)
    if cfg.policy == "randaugment":
        return ra.rand_augment(images, n=cfg.num_ops, m=cfg.magnitude, num_magnitude_bins=cfg.num_magnitude_bins,
                               shape=[size, size], fill_value=0, max_translate_rel=TORCHVISION_TRANSLATE_REL)
    return ta.trivial_augment_wide(images, num_magnitude_bins=cfg.num_magnitude_bins, fill_value=0)
