"""One layer of a policy in a DALI graph, for both families: each sample's fed op chosen by DALI's
conditionals (`nvidia.dali.auto_aug.core.select`), applied with its parameter. The GPU graph runs
this; so do CPU graphs with resampler="dali", which the tests run (docs/parity.md gives each op's
bound).

Each op is written once, taking its parameter, as its torch kernel is (`kernels.policy`). Where
the libraries' arithmetic differs it has one branch per style: torchvision's (torch floats, its luma,
nearest neighbour with fill 0) and PIL's (timm's ops: integer luma (19595 R + 38470 G + 7471 B +
2**15) >> 16, exact in float32 here, blends that truncate, bilinear warps with timm's fill).
"""

from __future__ import annotations

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali import math as dmath

from ..kernels.nodes import blend_with_luma, blend_with_mean_luma, on_device, to_uint8
from ..kernels.policy import GEOMETRIC

_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13  # PIL's SMOOTH; torchvision's blur
_CENTRE = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
_PIL_LUMA = np.array([19595, 38470, 7471], dtype=np.float32)


def _float(images):
    return fn.cast(images, dtype=types.FLOAT)


def _inside(size: int, device: str, dtype=np.uint8):
    """(size, size, 1): 1 inside the 1-pixel border (which both sharpness kernels leave unfiltered)."""
    inside = np.zeros((size, size, 1), dtype=dtype)
    inside[1:-1, 1:-1] = 1
    return types.Constant(inside, device=device)


# the ops both families share, on their parameter (a node on the graph's device)
def scaled(images, factor):
    """Brightness: x * factor, clamped and truncated."""
    return to_uint8(_float(images) * factor)


def posterized(images, bits):
    """The top int(bits) bits of each value."""
    return images & fn.cast(256.0 - dmath.pow(2.0, 8.0 - bits), dtype=types.UINT8)


def solarized(images, threshold):
    """Values at or above `threshold` inverted."""
    above = _float(images) >= threshold
    return fn.cast(above * (255 - images) + (above ^ True) * images, dtype=types.UINT8)


def inverted(images):
    return fn.cast(255 - images, dtype=types.UINT8)


def equalized(images, device: str):
    return fn.equalize(images, device=device)


# torchvision's variants
def tv_geometry(images, affine, device: str, t=None):
    """Through the fed inverse map with fill 0; nearest neighbour (torchvision's policy default) or the
    bilinear filter `t` (the AutoAugment config) asks for."""
    interp = types.INTERP_LINEAR if t is not None and t.interpolation == "bilinear" else types.INTERP_NN
    return fn.warp_affine(images, matrix=affine, fill_value=0, interp_type=interp, inverse_map=True, device=device)


def tv_sharpness(images, factor, device: str, size: int):
    """factor x + (1 - factor) blur as one 3x3 filter (torchvision rounds the blur first)."""
    kernel = types.Constant(_CENTRE) * factor + types.Constant(_SMOOTH) * (1.0 - factor)
    sharpened = fn.filter(images, on_device(kernel, device), border="clamp", dtype=types.UINT8, device=device)
    inside = _inside(size, device)
    return fn.cast(sharpened * inside + images * (1 - inside), dtype=types.UINT8)


def tv_autocontrast(images):
    """torchvision's (x - min) / ((max - min) / 255) per channel; unchanged where max == min."""
    pixels = _float(images)
    lo = fn.reductions.min(pixels, axis_names="HW", keep_dims=True)
    hi = fn.reductions.max(pixels, axis_names="HW", keep_dims=True)
    flat = fn.cast(hi == lo, dtype=types.FLOAT)
    inv_scale = (hi - lo) * (1.0 / 255) * (1.0 - flat) + flat
    return to_uint8((pixels - lo * (1.0 - flat)) / inv_scale)


# PIL's variants (timm's ops)
def _pil_luma(pixels):
    """(H, W, 1) float: PIL's RGB -> L."""
    weighted = fn.reductions.sum(pixels * types.Constant(_PIL_LUMA), axes=[2], keep_dims=True)
    return dmath.floor((weighted + 32768.0) * (1.0 / 65536))


def _pil_blend(degenerate, pixels, factor):
    """PIL's Image.blend(degenerate, image, factor): degenerate + factor (image - degenerate), truncated."""
    return to_uint8(degenerate + factor * (pixels - degenerate))


def pil_geometry(images, affine, device: str, t):
    """PIL's affine transform: the fill where the output pixel's centre maps outside the image (a
    nearest-neighbour warp of ones tells which), elsewhere the filter with the edge pixels repeated
    (a warp without a fill value clamps its coordinates); bilinear (DALI's warp has no bicubic
    filter: a sample timm filters bicubically is filtered bilinearly here)."""
    interp = types.INTERP_NN if t.interpolation == "nearest" else types.INTERP_LINEAR
    warped = fn.warp_affine(images, matrix=affine, interp_type=interp, inverse_map=True, device=device)
    ones = fn.cast(images[:, :, 0:1] * 0 + 1, dtype=types.UINT8)
    inside = fn.warp_affine(ones, matrix=affine, fill_value=0, interp_type=types.INTERP_NN, inverse_map=True,
                            device=device)
    fill = types.Constant(np.array(t.fill, dtype=np.uint8).reshape(1, 1, 3), device=device)
    return fn.cast(warped * inside + fill * (1 - inside), dtype=types.UINT8)


def pil_color(images, factor):
    pixels = _float(images)
    return _pil_blend(_pil_luma(pixels), pixels, factor)


def pil_contrast(images, factor):
    pixels = _float(images)
    return _pil_blend(dmath.floor(fn.reductions.mean(_pil_luma(pixels)) + 0.5), pixels, factor)


def pil_sharpness(images, factor, device: str, size: int):
    """PIL's Sharpness: a blend with the SMOOTH-filtered image (rounded; its 1-pixel border unfiltered)."""
    smooth = fn.filter(images, on_device(types.Constant(_SMOOTH), device), border="clamp", dtype=types.UINT8,
                       device=device)
    inside = _inside(size, device, np.float32)
    pixels = _float(images)
    return _pil_blend(_float(smooth) * inside + pixels * (1.0 - inside), pixels, factor)


def pil_autocontrast(images):
    """PIL's ImageOps.autocontrast: per channel x * 255 / (hi - lo) - lo * that, truncated; unchanged where hi == lo."""
    pixels = _float(images)
    lo = fn.reductions.min(pixels, axis_names="HW", keep_dims=True)
    hi = fn.reductions.max(pixels, axis_names="HW", keep_dims=True)
    flat = fn.cast(hi <= lo, dtype=types.FLOAT)
    scale = 255.0 / (hi - lo + flat) * (1.0 - flat) + flat
    return to_uint8(pixels * scale - lo * scale * (1.0 - flat))


def pil_solarize_add(images, add):
    """timm's SolarizeAdd: `add` to the values below 128, saturating."""
    pixels = _float(images)
    return fn.cast(dmath.min(pixels + fn.cast(pixels < 128.0, dtype=types.FLOAT) * add, 255.0), dtype=types.UINT8)


# each op's DALI branch on its parameter: (images, parameter, fed map, device, size, timm config) -> images
def _on(value, device):
    return on_device(fn.cast(value, dtype=types.FLOAT), device)


def _branch(f):  # an op that reads only the images and its parameter on the device
    return lambda x, p, a, d, s, t: f(x, _on(p, d))


SHARED = {
    "Identity": lambda x, p, a, d, s, t: x,
    "Invert": lambda x, p, a, d, s, t: inverted(x),
    "Posterize": lambda x, p, a, d, s, t: posterized(x, dmath.min(_on(p, d), 8.0)),
    "Solarize": _branch(solarized),
    "SolarizeAdd": _branch(pil_solarize_add),
    "Brightness": _branch(scaled),
    "Equalize": lambda x, p, a, d, s, t: equalized(x, d),
    # DALI's Gaussian with sigma = radius (PIL approximates it by box blurs)
    "GaussianBlur": lambda x, p, a, d, s, t: fn.gaussian_blur(x, sigma=fn.cast(p, dtype=types.FLOAT), device=d),
}
STYLED = {
    "torchvision": {
        "AutoContrast": lambda x, p, a, d, s, t: tv_autocontrast(x),
        "Color": _branch(blend_with_luma),
        "Contrast": _branch(blend_with_mean_luma),
        "Sharpness": lambda x, p, a, d, s, t: tv_sharpness(x, p, d, s),
        **{op: lambda x, p, a, d, s, t: tv_geometry(x, a, d, t) for op in GEOMETRIC},
    },
    "pil": {
        "AutoContrast": lambda x, p, a, d, s, t: pil_autocontrast(x),
        "Color": _branch(pil_color),
        "Contrast": _branch(pil_contrast),
        "Sharpness": lambda x, p, a, d, s, t: pil_sharpness(x, _on(p, d), d, s),
        **{op: lambda x, p, a, d, s, t: pil_geometry(x, a, d, t) for op in GEOMETRIC},
    },
}


def select_layer(names: tuple[str, ...], style: str, param, images, op, value, affine, device: str, size: int,
                 t=None):
    """`size` x `size` `images` through each sample's op `op` (an int32 id into the family's op
    `names`) with `param(name, value)` (the family's fed value -> the op's parameter) and its inverse
    map `affine`, in `style`'s arithmetic; `t` the family's transform config where its ops need it."""
    from nvidia.dali.auto_aug.core import select

    def branch(name):
        f = SHARED.get(name) or STYLED[style][name]
        return lambda x, v, a: f(x, param(name, v), a, device, size, t)

    return select([branch(name) for name in names], op, images, value, affine)
