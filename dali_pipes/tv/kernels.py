"""torchvision's resampling, as both the torchvision backend and the torch resampler inside DALI use
it: the interpolation vocabulary of the config mapped to torchvision's modes, antialiased."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

INTERPOLATION_MODES = {"bilinear": F.InterpolationMode.BILINEAR, "bicubic": F.InterpolationMode.BICUBIC,
                       "nearest": F.InterpolationMode.NEAREST_EXACT}  # PIL's nearest (pixel centres)


def resize(image: torch.Tensor, size, interpolation: str = "bilinear") -> torch.Tensor:
    """torchvision's resize, antialiased when it downscales (as PIL and timm's reference pipelines)."""
    return F.resize(image, size, interpolation=INTERPOLATION_MODES[interpolation], antialias=True)


def resize_if_needed(image: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize to `size` x `size` unless the image already is (no upscaling of CIFAR by default)."""
    if tuple(image.shape[-2:]) == (size, size):
        return image
    return resize(image, [size, size], interpolation)
