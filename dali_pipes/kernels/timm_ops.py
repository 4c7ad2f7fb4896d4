"""The pixel ops of timm's auto-augmentations (RandAugment, AutoAugment, 3-Augment), given each op's
parameter as timm's level functions compute it: the same PIL calls timm's ops make, on a (3, H, W)
uint8 tensor. Both CPU backends run these (the torchvision backend, and dali-cpu's torch node), so
their pixels are timm's; the GPU graph's DALI version is in `dali_pipes.ops.policy_graph`.

The geometric ops are PIL affine transforms; `affine_data` gives each one's map (PIL's `data`: the
output pixel centre -> the input position, in image-edge coordinates, which is also what DALI's
warp_affine takes with `inverse_map=True`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

OPS = ("Identity", "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
       "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
       "GaussianBlur")
OP_ID = {name: k for k, name in enumerate(OPS)}
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
# the geometric ops' filters, by the id fed with each layer
RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC}
RESAMPLE_IDS = tuple(RESAMPLE)


def affine_data(op: str, arg: float, width: int, height: int) -> tuple[float, ...]:
    """PIL's affine `data` (a, b, c, d, e, f) of a geometric op: input = (a x + b y + c, d x + e y + f)."""
    if op == "ShearX":
        return (1.0, arg, 0.0, 0.0, 1.0, 0.0)
    if op == "ShearY":
        return (1.0, 0.0, 0.0, arg, 1.0, 0.0)
    if op == "TranslateX":
        return (1.0, 0.0, arg, 0.0, 1.0, 0.0)
    if op == "TranslateY":
        return (1.0, 0.0, 0.0, 0.0, 1.0, arg)
    if op == "Rotate":  # Image.rotate's matrix about the centre (its cos/sin rounded to 15 digits)
        angle = -math.radians(arg % 360.0)
        a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
        d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
        cx, cy = width / 2.0, height / 2.0
        return (a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy)
    raise ValueError(f"not a geometric op: {op!r}")


POINT_OPS = ("Invert", "Posterize", "Solarize", "SolarizeAdd", "Brightness")  # one value -> one value
_VALUES = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))  # (1, 256) RGB


@functools.lru_cache(maxsize=4096)
def _table(op: str, arg: float, mean: int = -1) -> np.ndarray:
    """(256,) uint8: PIL's own op on every value (Contrast: its blend with the grey `mean`)."""
    if op == "Contrast":
        out = Image.blend(Image.new("RGB", _VALUES.size, (mean,) * 3), _VALUES, arg)
    else:
        out = _pil(_VALUES, op, arg, None, (0, 0, 0))
    return np.asarray(out)[0, :, 0].copy()


def _pil_grey_mean(chw: np.ndarray) -> int:
    """ImageEnhance.Contrast's grey: the mean of PIL's L = (19595 R + 38470 G + 7471 B + 2**15) >> 16, rounded."""
    r, g, b = (plane.astype(np.int32) for plane in chw)
    grey = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    return int(float(grey.mean(dtype=np.float64)) + 0.5)


def apply(image: torch.Tensor, op: str, arg: float, resample: str = "bilinear",
          fill: tuple[int, int, int] = (128, 128, 128)) -> torch.Tensor:
    """(3, H, W) uint8, any memory layout -> (3, H, W) uint8. The point ops (and contrast, given
    its grey mean) look up PIL's own table; the rest are PIL's calls on an image of the pixels."""
    if op == "Identity":
        return image
    if op in POINT_OPS or op == "Contrast":
        chw = image.numpy()
        mean = _pil_grey_mean(chw) if op == "Contrast" else -1
        return torch.from_numpy(np.take(_table(op, float(arg), mean), chw))
    pixels = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))
    out = _pil(pixels, op, arg, RESAMPLE[resample], tuple(int(v) for v in fill))
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)


def _pil(img: Image.Image, op: str, arg: float, resample, fill) -> Image.Image:
    if op == "Rotate":
        return img.rotate(arg, resample=resample, fillcolor=fill)
    if op in GEOMETRIC:
        return img.transform(img.size, Image.Transform.AFFINE, affine_data(op, arg, *img.size),
                             resample=resample, fillcolor=fill)
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    if op == "Invert":
        return ImageOps.invert(img)
    if op == "Posterize":  # 0 bits: black (PIL >= 12 refuses 0, which timm's increasing posterize reaches at m=10)
        return img if arg >= 8 else ImageOps.posterize(img, int(arg)) if arg >= 1 else img.point([0] * 768)
    if op == "Solarize":
        return ImageOps.solarize(img, arg)
    if op == "SolarizeAdd":  # timm's: add `arg` below 128, saturating
        add = int(arg)
        return img.point([min(255, i + add) if i < 128 else i for i in range(256)] * 3)
    if op == "GaussianBlur":
        return img.filter(ImageFilter.GaussianBlur(radius=arg))
    enhance = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast,
               "Brightness": ImageEnhance.Brightness, "Sharpness": ImageEnhance.Sharpness}.get(op)
    if enhance is None:
        raise ValueError(f"unknown timm op {op!r}")
    return enhance(img).enhance(arg)
