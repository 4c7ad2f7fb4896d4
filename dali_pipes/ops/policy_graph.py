"""One layer of an auto-augment policy in a DALI graph: each sample's fed op (`kernels.policy.OPS`)
chosen by DALI's conditionals (`nvidia.dali.auto_aug.core.select`), applied with its fed signed
magnitude, as torchvision's kernel computes it where DALI's operators allow (docs/parity.md gives
each op's bound). The GPU graph runs this; so do CPU graphs with resampler="dali", which the tests run.
"""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..kernels.nodes import blend_with_luma, blend_with_mean_luma, on_device, to_uint8
from ..kernels.policy import OPS

_BLUR = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13
_CENTRE = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)


def _identity(images, mag, affine, device, size):
    return images


def _geometry(images, mag, affine, device, size):
    """Nearest neighbour, fill 0 (torchvision's policy defaults), through the fed inverse map."""
    return fn.warp_affine(images, matrix=affine, fill_value=0, interp_type=types.INTERP_NN, inverse_map=True,
                          device=device)


def _brightness(images, mag, affine, device, size):
    return to_uint8(fn.cast(images, dtype=types.FLOAT) * on_device(1.0 + mag, device))


def _color(images, mag, affine, device, size):
    return blend_with_luma(images, on_device(1.0 + mag, device))


def _contrast(images, mag, affine, device, size):
    return blend_with_mean_luma(images, on_device(1.0 + mag, device))


def _sharpness(images, mag, affine, device, size):
    """factor x + (1 - factor) blur as one 3x3 filter (torchvision rounds the blur first); the
    1-pixel border unfiltered, as torchvision's (the policies run on size x size images)."""
    factor = 1.0 + mag
    kernel = types.Constant(_CENTRE) * factor + types.Constant(_BLUR) * (1.0 - factor)
    sharpened = fn.filter(images, on_device(kernel, device), border="clamp", dtype=types.UINT8, device=device)
    inside = np.zeros((size, size, 1), dtype=np.uint8)
    inside[1:-1, 1:-1] = 1
    inside = types.Constant(inside, device=device)
    return fn.cast(sharpened * inside + images * (1 - inside), dtype=types.UINT8)


def _posterize(images, mag, affine, device, size):
    keep = fn.cast(256.0 - dmath.pow(2.0, 8.0 - mag), dtype=types.UINT8)  # the top int(mag) bits
    return images & on_device(keep, device)


def _solarize(images, mag, affine, device, size):
    inverted = images >= on_device(255.0 * mag, device)
    return fn.cast(inverted * (255 - images) + (inverted ^ True) * images, dtype=types.UINT8)


def _autocontrast(images, mag, affine, device, size):
    """torchvision's (x - min) / ((max - min) / 255) per channel; unchanged where max == min."""
    pixels = fn.cast(images, dtype=types.FLOAT)
    lo = fn.reductions.min(pixels, axis_names="HW", keep_dims=True)
    hi = fn.reductions.max(pixels, axis_names="HW", keep_dims=True)
    flat = fn.cast(hi == lo, dtype=types.FLOAT)
    inv_scale = (hi - lo) * (1.0 / 255) * (1.0 - flat) + flat
    return to_uint8((pixels - lo * (1.0 - flat)) / inv_scale)


def _equalize(images, mag, affine, device, size):
    return fn.equalize(images, device=device)


def _invert(images, mag, affine, device, size):
    return fn.cast(255 - images, dtype=types.UINT8)


_GRAPH = {"Identity": _identity, "ShearX": _geometry, "ShearY": _geometry, "TranslateX": _geometry,
          "TranslateY": _geometry, "Rotate": _geometry, "Brightness": _brightness, "Color": _color,
          "Contrast": _contrast, "Sharpness": _sharpness, "Posterize": _posterize, "Solarize": _solarize,
          "AutoContrast": _autocontrast, "Equalize": _equalize, "Invert": _invert}


def apply_layer(images, op, mag, affine, device: str, size: int):
    """`size` x `size` `images` through each sample's op `op` (int32 id) with magnitude `mag` and
    inverse map `affine`."""
    from nvidia.dali.auto_aug.core import select

    branches = [lambda x, m, a, f=_GRAPH[name]: f(x, m, a, device, size) for name in OPS]
    return select(branches, op, images, mag, affine)
