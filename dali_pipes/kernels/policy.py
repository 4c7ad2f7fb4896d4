"""The ops of the auto-augment policies (AutoAugment, RandAugment, TrivialAugmentWide) on uint8 images,
given the op and its signed magnitude: torchvision's own kernels (`reference`, what the torchvision
backend runs) and the same results computed faster (`fast`, what dali-cpu's torch node runs).

`fast` equals `reference` pixel for pixel (tests/parity/test_policies.py), and runs torchvision's
kernel itself where that is as fast (brightness, contrast, posterize, invert). Solarize is a
256-entry table of torchvision's kernel; autocontrast and equalize one table per channel from the
channel's histogram (autocontrast with torchvision's float arithmetic, equalize in integers); the
geometric ops gather through an index map that torchvision's own affine/rotate computed on an
image of pixel numbers (the same grid, the same nearest rounding), cached per op, magnitude and
size; sharpness blurs in integers (a sum over 13 never lands on .5, so its rounding is exact) and
blends with torchvision's float operations in its order; colour is the colour jitter's exact
saturation arithmetic. Everything runs on contiguous (3, H, W) planes.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from .color import saturation

OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
OP_ID = {name: k for k, name in enumerate(OPS)}
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
_NEAREST = F.InterpolationMode.NEAREST


def reference(image: torch.Tensor, op: str, magnitude: float) -> torch.Tensor:
    """torchvision's `_AutoAugmentBase._apply_image_or_video_transform` on a (3, H, W) uint8 tensor
    (nearest interpolation, fill 0: the policies' defaults)."""
    if op == "Identity":
        return image
    if op in GEOMETRIC:
        return _geometry(image, op, magnitude)
    if op == "Brightness":
        return F.adjust_brightness(image, 1.0 + magnitude)
    if op == "Color":
        return F.adjust_saturation(image, 1.0 + magnitude)
    if op == "Contrast":
        return F.adjust_contrast(image, 1.0 + magnitude)
    if op == "Sharpness":
        return F.adjust_sharpness(image, 1.0 + magnitude)
    if op == "Posterize":
        return F.posterize(image, int(magnitude))
    if op == "Solarize":
        return F.solarize(image, 255.0 * magnitude)
    if op == "AutoContrast":
        return F.autocontrast(image)
    if op == "Equalize":
        return F.equalize(image)
    if op == "Invert":
        return F.invert(image)
    raise ValueError(f"unknown policy op {op!r}")


def _geometry(image: torch.Tensor, op: str, magnitude: float) -> torch.Tensor:
    if op == "Rotate":
        return F.rotate(image, magnitude, interpolation=_NEAREST)
    if op in ("ShearX", "ShearY"):
        shear = math.degrees(math.atan(magnitude))
        return F.affine(image, angle=0.0, translate=[0, 0], scale=1.0,
                        shear=[shear, 0.0] if op == "ShearX" else [0.0, shear], interpolation=_NEAREST, center=[0, 0])
    shift = [int(magnitude), 0] if op == "TranslateX" else [0, int(magnitude)]
    return F.affine(image, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=_NEAREST)


@functools.lru_cache(maxsize=128)  # RandAugment and AutoAugment need ~20 maps, TrivialAugment's 31 bins ~600
def _index_map(op: str, magnitude: float, height: int, width: int, mirrored: bool) -> np.ndarray:
    """(H * W,) int32: 1 + the source pixel (row-major) each output pixel takes, 0 for the fill,
    from torchvision's own kernel run on an image of those numbers (exact in float32 below 2**24).
    `mirrored`: the op between two horizontal flips (flip . op . flip)."""
    numbers = torch.arange(1, height * width + 1, dtype=torch.float32).view(1, height, width)
    if mirrored:
        return _geometry(numbers.flip(-1), op, magnitude).flip(-1).reshape(-1).to(torch.int32).numpy()
    return _geometry(numbers, op, magnitude).reshape(-1).to(torch.int32).numpy()


@functools.lru_cache(maxsize=1024)
def _table(op: str, magnitude: float) -> np.ndarray:
    """The 256-entry table of a point op: torchvision's kernel on every uint8 value."""
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 256).expand(3, 1, 256).contiguous()
    return reference(values, op, magnitude)[0, 0].numpy()


def fast(image: torch.Tensor, op: str, magnitude: float, mirrored: bool = False) -> torch.Tensor:
    """`reference`'s result, computed faster: (3, H, W) uint8 in any memory layout -> contiguous
    (3, H, W) (torch's kernels vectorize over rows, not over an innermost channel axis of 3).
    `mirrored`: of an image flipped horizontally before and after (a graph that flips last gives
    torchvision's flip-then-policy this way); only the geometric ops are not symmetric."""
    image = image.contiguous()
    if op == "Identity":
        return image
    if op in ("Brightness", "Posterize", "Invert", "Contrast"):  # torchvision's is as fast
        return reference(image, op, magnitude)
    if op == "Color":
        return saturation(image.to(torch.float32), 1.0 + magnitude).to(torch.uint8)
    if op == "Sharpness":
        return _sharpness(image, 1.0 + magnitude)
    chw = image.numpy()
    if op in GEOMETRIC:
        out = _gather(chw, _index_map(op, float(magnitude), chw.shape[1], chw.shape[2], bool(mirrored)))
    elif op == "Solarize":
        out = np.take(_table(op, float(magnitude)), chw)
    elif op in ("AutoContrast", "Equalize"):
        # torch's bincount: 2.5x numpy's on uint8, and it releases the GIL (numpy's does not)
        hist = torch.stack([torch.bincount(plane.reshape(-1), minlength=256) for plane in image]).numpy()
        tables = _autocontrast_tables(hist) if op == "AutoContrast" else _equalize_tables(hist)
        out = np.stack([np.take(table, plane) for table, plane in zip(tables, chw)])
    else:
        raise ValueError(f"unknown policy op {op!r}")
    return torch.from_numpy(out)


def _gather(chw: np.ndarray, index: np.ndarray) -> np.ndarray:
    c, h, w = chw.shape
    planes = np.zeros((c, h * w + 1), dtype=np.uint8)  # column 0: the fill
    planes[:, 1:] = chw.reshape(c, -1)
    return np.take(planes, index, axis=1).reshape(c, h, w)


def _autocontrast_tables(hist: np.ndarray) -> np.ndarray:
    """torchvision's autocontrast_image per channel (`hist`: (C, 256)), on every value:
    (x - min) / ((max - min) / 255)."""
    occupied = hist > 0
    lo = torch.from_numpy(occupied.argmax(axis=1)).to(torch.float32).view(-1, 1)
    hi = torch.from_numpy(255 - occupied[:, ::-1].argmax(axis=1)).to(torch.float32).view(-1, 1)
    same = hi == lo
    inv_scale = hi.sub_(lo).mul_(1.0 / 255)
    lo[same], inv_scale[same] = 0.0, 1.0
    values = torch.arange(256, dtype=torch.float32).expand(len(lo), 256)
    return values.sub(lo).div_(inv_scale).clamp_(0, 255).to(torch.uint8).numpy()


def _equalize_tables(hists: np.ndarray) -> np.ndarray:
    """torchvision's equalize_image per channel (`hists`: (C, 256)), in integers: the cumulative
    histogram without the last occupied bin's count, stepped by (pixels outside that bin) // 255;
    the identity where that step is 0."""
    tables = np.tile(np.arange(256, dtype=np.uint8), (len(hists), 1))
    for k, hist in enumerate(hists):
        cum = np.cumsum(hist)
        step = int(cum[-1] - hist[int(np.argmax(cum))]) // 255
        if step:
            tables[k, 1:] = np.clip((cum[:-1] + step // 2) // step, 0, 255)
            tables[k, 0] = 0
    return tables


def _sharpness(image: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's adjust_sharpness_image: inside the 1-pixel border, x + (1 - f) * (blur - x)."""
    h, w = image.shape[-2:]
    if h <= 2 or w <= 2:
        return image
    x = np.asarray(image, dtype=np.uint16)  # (3, H, W); 13 x 255 fits
    rows = x[:, :, :-2] + x[:, :, 1:-1] + x[:, :, 2:]
    total = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] + 4 * x[:, 1:-1, 1:-1]  # the 3 x 3 sum + 4 x the centre
    blurred = torch.from_numpy(((2 * total + 13) // 26).astype(np.float32))  # round(total / 13), exactly
    output = image.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    view = output[..., 1:-1, 1:-1]
    view.add_(blurred.sub_(view), alpha=1.0 - factor)
    return output.clamp_(0, 255).to(torch.uint8)
