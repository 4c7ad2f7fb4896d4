"""Photometric augmentations in the DALI graph: color jitter and the auto-augment policies.

Both run on uint8 HWC images after the geometry, on the GPU or the CPU like the rest of the graph.
Differences from torchvision, by design (see README "Augmentation"):
- jitter applies brightness, contrast, saturation, hue in this fixed order (torchvision draws a
  random order per sample); DALI's hue rotates the chroma plane in YIQ space, torchvision shifts the
  HSV hue; the factors are drawn from the same distributions;
- the auto-augment policies are DALI's `nvidia.dali.auto_aug` with torchvision's fill (0) and
  translation limits (150/331 of the image side for AutoAugment and RandAugment, 32 px for
  TrivialAugmentWide); solarize thresholds span 256..0 where torchvision's span 255..0.
"""

from __future__ import annotations

from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..config import AutoAugment, ColorJitter

TORCHVISION_TRANSLATE_REL = 150 / 331


def _on(node, device: str):
    return node.gpu() if device == "gpu" else node


def color_jitter(images, jitter, cfg: ColorJitter, device: str):
    """Apply the sample's factors (drawn by dali_pipes.params): brightness, contrast, saturation, hue."""
    if cfg.brightness > 0:
        images = fn.brightness(images, device=device, brightness=jitter[0])
    if cfg.contrast > 0:
        # torchvision blends with the mean of the grayscale image, not with mid-grey
        c = _on(jitter[1], device)
        gray = fn.color_space_conversion(images, device=device, image_type=types.RGB, output_type=types.GRAY)
        mean = fn.reductions.mean(fn.cast(gray, dtype=types.FLOAT))
        blended = fn.cast(images, dtype=types.FLOAT) * c + mean * (1.0 - c)
        images = fn.cast(dmath.clamp(blended, 0.0, 255.0), dtype=types.UINT8)
    if cfg.saturation > 0:
        images = fn.saturation(images, device=device, saturation=jitter[2])
    if cfg.hue > 0:
        images = fn.hue(images, device=device, hue=jitter[3] * 360.0)  # fraction of the wheel -> degrees
    return images


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
