"""torchvision's colour arithmetic for uint8 images, on float pixels that hold uint8 values: the
same float32 operations in the same order, so the same roundings (the colour jitter's torch node
and the policies' colour op run these); and DALI's hue (the graph's), for dali-cpu's torch node."""

from __future__ import annotations

import numpy as np
import torch

from ..constants import LUMA


def luma(pixels: torch.Tensor) -> torch.Tensor:
    """(1, H, W): floor(0.2989 R + 0.587 G + 0.114 B) of float pixels, torchvision's grayscale for
    uint8 images (the same operations, so the same float32 roundings)."""
    r, g, b = pixels.unbind(dim=-3)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(-3).floor_()


def brightness(pixels: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's adjust_brightness on float pixels holding uint8 values, in place, floored (its truncation)."""
    return pixels.mul_(factor).clamp_(0, 255).floor_()


def contrast(pixels: torch.Tensor, factor: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """torchvision's adjust_contrast (a blend with the mean of the floored grey) on float pixels
    holding uint8 values, in place, floored; `mean`: that grey mean, when `pixels` are not the image
    it comes from (a table of the 256 levels)."""
    if mean is None:
        mean = torch.mean(luma(pixels), dim=(-3, -2, -1), keepdim=True)
    return pixels.mul_(factor).add_(mean, alpha=1.0 - factor).clamp_(0, 255).floor_()


def saturation(pixels: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's adjust_saturation on float pixels holding uint8 values, floored (its truncation)."""
    return pixels.mul(factor).add_(luma(pixels), alpha=1.0 - factor).clamp_(0, 255).floor_()


# DALI's fn.hue: the chroma plane of YIQ rotated by the angle (its matrices, probed from fn.hue's
# float output to 5e-7), the result rounded to the nearest level
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]])
_RGB = np.linalg.inv(_YIQ)


def dali_hue_matrix(degrees: float) -> torch.Tensor:
    """(3, 3) float32: RGB -> RGB of DALI's hue rotation by `degrees`."""
    t = np.deg2rad(degrees)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), np.sin(t)], [0.0, -np.sin(t), np.cos(t)]])
    return torch.from_numpy((_RGB @ rotation @ _YIQ).astype(np.float32))


def dali_hue(pixels: torch.Tensor, degrees: float) -> torch.Tensor:
    """DALI's fn.hue on contiguous (3, H, W) float pixels holding uint8 levels -> uint8 (within 1
    level of DALI's on ~1 in 100,000 values: rounding ties of a different summation order)."""
    rotated = dali_hue_matrix(degrees) @ pixels.reshape(3, -1)
    return rotated.round_().clamp_(0, 255).to(torch.uint8).view(pixels.shape)
