"""Small DALI node helpers that the ops' graph functions and the DALI graph share."""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..constants import LUMA

TORCHVISION_LUMA = np.array(LUMA, dtype=np.float32)  # contrast and saturation blend with this luma


def on_device(node, device: str):
    """`node` where the graph runs: per-sample values fed on the CPU move to the GPU for arithmetic."""
    return node.gpu() if device == "gpu" else node


def to_uint8(values):
    """Clamp and truncate, as torchvision's `.to(torch.uint8)` after a blend."""
    return fn.cast(dmath.floor(dmath.clamp(values, 0.0, 255.0)), dtype=types.UINT8)


def luma(pixels):
    """(H, W, 1) float: floor(0.2989 R + 0.587 G + 0.114 B), as torchvision for uint8 images."""
    return dmath.floor(fn.reductions.sum(pixels * types.Constant(TORCHVISION_LUMA), axes=[2], keep_dims=True))


def blend_with_luma(images, factor):
    """torchvision's `_blend(image, grayscale(image), factor)` on uint8 HWC images (adjust_saturation)."""
    pixels = fn.cast(images, dtype=types.FLOAT)
    return to_uint8(pixels * factor + luma(pixels) * (1.0 - factor))


def blend_with_mean_luma(images, factor):
    """torchvision's adjust_contrast on uint8 HWC images: a blend with the mean of the floored luma."""
    pixels = fn.cast(images, dtype=types.FLOAT)
    return to_uint8(pixels * factor + fn.reductions.mean(luma(pixels)) * (1.0 - factor))
