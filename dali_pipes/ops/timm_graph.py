"""One layer of a timm auto-augmentation in a DALI graph: each sample's fed op
(`kernels.timm_ops.OPS`) chosen by DALI's conditionals, with its fed parameter, computed as PIL
computes timm's op where DALI's operators allow (docs/parity.md gives each op's bound). The GPU
graph runs this; so do CPU graphs with resampler="dali", which the tests run.

PIL's enhance ops blend in float and truncate; its luma is the integer (19595 R + 38470 G + 7471 B
+ 2**15) >> 16, exact here in float32 (every sum stays below 2**24). The geometric ops are DALI's
warp_affine through the fed map: bilinear (DALI's warp has no bicubic filter: a sample timm filters
bicubically is filtered bilinearly here), PIL's fill colour where the map leaves the image.
"""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..kernels.nodes import on_device, to_uint8
from ..kernels.timm_ops import OPS

_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13  # PIL's ImageFilter.SMOOTH
_PIL_LUMA = np.array([19595, 38470, 7471], dtype=np.float32)


def _float(images):
    return fn.cast(images, dtype=types.FLOAT)


def _param(arg, device):
    return on_device(fn.cast(arg, dtype=types.FLOAT), device)


def _pil_luma(pixels):
    """(H, W, 1) float: PIL's RGB -> L."""
    weighted = fn.reductions.sum(pixels * types.Constant(_PIL_LUMA), axes=[2], keep_dims=True)
    return dmath.floor((weighted + 32768.0) * (1.0 / 65536))


def _blend(degenerate, pixels, factor):
    """PIL's Image.blend(degenerate, image, factor): degenerate + factor (image - degenerate), truncated."""
    return to_uint8(degenerate + factor * (pixels - degenerate))


def _identity(images, arg, affine, device, t, size):
    return images


def _geometry(images, arg, affine, device, t, size):
    """PIL's affine transform: the fill where the output pixel's centre maps outside the image (a
    nearest-neighbour warp of ones tells which), elsewhere the filter with the edge pixels repeated
    (a warp without a fill value clamps its coordinates)."""
    interp = types.INTERP_NN if t.interpolation == "nearest" else types.INTERP_LINEAR
    warped = fn.warp_affine(images, matrix=affine, interp_type=interp, inverse_map=True, device=device)
    ones = fn.cast(images[:, :, 0:1] * 0 + 1, dtype=types.UINT8)
    inside = fn.warp_affine(ones, matrix=affine, fill_value=0, interp_type=types.INTERP_NN, inverse_map=True,
                            device=device)
    fill = types.Constant(np.array(t.fill, dtype=np.uint8).reshape(1, 1, 3), device=device)
    return fn.cast(warped * inside + fill * (1 - inside), dtype=types.UINT8)


def _autocontrast(images, arg, affine, device, t, size):
    """PIL's ImageOps.autocontrast: per channel x * 255 / (hi - lo) - lo * that, truncated; unchanged where hi == lo."""
    pixels = _float(images)
    lo = fn.reductions.min(pixels, axis_names="HW", keep_dims=True)
    hi = fn.reductions.max(pixels, axis_names="HW", keep_dims=True)
    flat = fn.cast(hi <= lo, dtype=types.FLOAT)
    scale = 255.0 / (hi - lo + flat) * (1.0 - flat) + flat
    return to_uint8(pixels * scale - lo * scale * (1.0 - flat))


def _equalize(images, arg, affine, device, t, size):
    return fn.equalize(images, device=device)


def _invert(images, arg, affine, device, t, size):
    return fn.cast(255 - images, dtype=types.UINT8)


def _posterize(images, arg, affine, device, t, size):
    bits = dmath.min(_param(arg, device), 8.0)
    keep = fn.cast(256.0 - dmath.pow(2.0, 8.0 - bits), dtype=types.UINT8)
    return images & keep


def _solarize(images, arg, affine, device, t, size):
    above = _float(images) >= _param(arg, device)
    return fn.cast(above * (255 - images) + (above ^ True) * images, dtype=types.UINT8)


def _solarize_add(images, arg, affine, device, t, size):
    pixels = _float(images)
    below = fn.cast(pixels < 128.0, dtype=types.FLOAT)
    return fn.cast(dmath.min(pixels + below * _param(arg, device), 255.0), dtype=types.UINT8)


def _color(images, arg, affine, device, t, size):
    pixels = _float(images)
    return _blend(_pil_luma(pixels), pixels, _param(arg, device))


def _contrast(images, arg, affine, device, t, size):
    pixels = _float(images)
    mean = dmath.floor(fn.reductions.mean(_pil_luma(pixels)) + 0.5)
    return _blend(mean, pixels, _param(arg, device))


def _brightness(images, arg, affine, device, t, size):
    return to_uint8(_float(images) * _param(arg, device))


def _sharpness(images, arg, affine, device, t, size):
    """PIL's Sharpness: a blend with the SMOOTH-filtered image (rounded; its 1-pixel border unfiltered)."""
    smooth = fn.filter(images, on_device(types.Constant(_SMOOTH), device), border="clamp", dtype=types.UINT8,
                       device=device)
    inside = np.zeros((size, size, 1), dtype=np.float32)
    inside[1:-1, 1:-1] = 1.0
    inside = types.Constant(inside, device=device)
    pixels = _float(images)
    return _blend(_float(smooth) * inside + pixels * (1.0 - inside), pixels, _param(arg, device))


def _gaussian_blur(images, arg, affine, device, t, size):
    """DALI's Gaussian with sigma = radius (PIL approximates it by box blurs)."""
    return fn.gaussian_blur(images, sigma=_param(arg, "cpu"), device=device)


_GRAPH = {"Identity": _identity, "AutoContrast": _autocontrast, "Equalize": _equalize, "Invert": _invert,
          "Rotate": _geometry, "Posterize": _posterize, "Solarize": _solarize, "SolarizeAdd": _solarize_add,
          "Color": _color, "Contrast": _contrast, "Brightness": _brightness, "Sharpness": _sharpness,
          "ShearX": _geometry, "ShearY": _geometry, "TranslateX": _geometry, "TranslateY": _geometry,
          "GaussianBlur": _gaussian_blur}


def apply_layer(images, op, arg, affine, device: str, t, size: int):
    """`size` x `size` `images` through each sample's op `op` (int32 id) with parameter `arg` and
    inverse map `affine`; `t` the TimmAugment (fill, filter)."""
    from nvidia.dali.auto_aug.core import select

    branches = [lambda x, a, m, f=_GRAPH[name]: f(x, a, m, device, t, size) for name in OPS]
    return select(branches, op, images, arg, affine)
