"""torchvision's colour arithmetic for uint8 images, on float pixels that hold uint8 values: the
same float32 operations in the same order, so the same roundings (the colour jitter's torch node
and the policies' colour op run these)."""

from __future__ import annotations

import torch

from ..constants import LUMA


def luma(pixels: torch.Tensor) -> torch.Tensor:
    """(1, H, W): floor(0.2989 R + 0.587 G + 0.114 B) of float pixels, torchvision's grayscale for
    uint8 images (the same operations, so the same float32 roundings)."""
    r, g, b = pixels.unbind(dim=-3)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(-3).floor_()


def saturation(pixels: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's adjust_saturation on float pixels holding uint8 values, floored (its truncation)."""
    return pixels.mul(factor).add_(luma(pixels), alpha=1.0 - factor).clamp_(0, 255).floor_()
