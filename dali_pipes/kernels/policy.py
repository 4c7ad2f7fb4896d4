"""The policy ops of both families (torchvision's AutoAugment / RandAugment / TrivialAugmentWide and
timm's), each written once as a torch kernel on (3, H, W) uint8 planes taking its parameter: a
factor, bits, a threshold, degrees, a shear or pixels. Where torchvision's and PIL's arithmetic
differ (autocontrast, colour, contrast, sharpness, the geometric ops) the op has one branch per
`style`: "torchvision" (its v2 kernels, nearest neighbour with fill 0) or "pil" (PIL's calls, which
timm's ops make); each equals its library pixel for pixel (tests/parity/test_policies.py and
test_timm_augment.py). A family says which ops, in which order, and its parameters (ops.auto_augment,
ops.timm_augment); the DALI branches are ops.policy_graph.

Brightness, posterize and invert are torchvision's kernels (PIL's arithmetic is the same); solarize
looks up a 256-entry table of the style's own kernel; equalize (the same in both libraries) and
autocontrast one table per channel from the channel's histogram; torchvision's geometric ops
gather through an index map its own affine/rotate computed on an image of pixel numbers (the same
grid, the same rounding); torchvision's sharpness blurs in integers (a sum over 13 never lands on .5)
and blends with its float operations in its order; its colour is the colour jitter's saturation.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from torchvision.transforms.v2 import functional as F

from .color import saturation

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
           "bicubic": Image.Resampling.BICUBIC}
_VALUES = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))  # (1, 256) RGB


def apply(image: torch.Tensor, op: str, param: float, style: str = "torchvision", resample: str = "nearest",
          fill: tuple[int, ...] = (0, 0, 0), mirrored: bool = False) -> torch.Tensor:
    """(3, H, W) uint8 in any memory layout -> (3, H, W) uint8, contiguous (torch's kernels vectorize
    over rows) but for the PIL calls. `resample`: the geometric ops' filter; `fill`: PIL's (torchvision's is 0);
    `mirrored`: the op between two horizontal flips (only the geometric ops are not symmetric); the
    PIL calls take HWC pixels, and give a (3, H, W) view of them."""
    if style == "pil" and op in GEOMETRIC + ("Color", "Sharpness", "GaussianBlur"):
        if mirrored:
            return _pil_apply(image.flip(-1), op, param, resample, fill).flip(-1)
        return _pil_apply(image, op, param, resample, fill)
    if op == "Identity":
        return image
    chw = image.numpy()
    if op in ("Solarize", "SolarizeAdd") or (op, style) == ("Contrast", "pil"):  # np.take: planes from any layout
        mean = _pil_grey_mean(chw) if op == "Contrast" else -1
        return torch.from_numpy(np.take(_table(style, op, float(param), mean), chw))
    if not image.is_contiguous():  # numpy's transposing copy: ~50x faster than torch's for uint8
        chw = np.ascontiguousarray(chw)
        image = torch.from_numpy(chw)
    if op in ("AutoContrast", "Equalize"):
        # torch's bincount: 2.5x numpy's on uint8, and it releases the GIL (numpy's does not)
        hist = torch.stack([torch.bincount(plane.reshape(-1), minlength=256) for plane in image]).numpy()
        tables = _equalize_tables(hist) if op == "Equalize" else _autocontrast_tables(hist, style)
        return torch.from_numpy(np.stack([np.take(table, plane) for table, plane in zip(tables, chw)]))
    if op in GEOMETRIC and resample != "nearest":  # torchvision's own bilinear kernel
        if mirrored:
            return _torchvision_geometry(image.flip(-1), op, param, resample).flip(-1)
        return _torchvision_geometry(image, op, param, resample)
    if op in GEOMETRIC:
        return torch.from_numpy(_gather(chw, _index_map(op, float(param), chw.shape[1], chw.shape[2], mirrored)))
    if op == "Color":
        return saturation(image.to(torch.float32), param).to(torch.uint8)
    if op == "Sharpness":
        return _sharpness(image, param)
    return torchvision_op(image, op, param)  # brightness, posterize, invert (PIL's alike), torchvision's contrast


def torchvision_op(image: torch.Tensor, op: str, param: float, interpolation: str = "nearest") -> torch.Tensor:
    """torchvision's own v2 kernel of the op (fill 0; nearest interpolation: the policies' default)."""
    if op in GEOMETRIC:
        return _torchvision_geometry(image, op, param, interpolation)
    calls = {"Identity": lambda: image, "Brightness": lambda: F.adjust_brightness(image, param),
             "Color": lambda: F.adjust_saturation(image, param), "Contrast": lambda: F.adjust_contrast(image, param),
             "Sharpness": lambda: F.adjust_sharpness(image, param),
             "Posterize": lambda: F.posterize(image, min(int(param), 8)),
             "Solarize": lambda: F.solarize(image, param), "AutoContrast": lambda: F.autocontrast(image),
             "Equalize": lambda: F.equalize(image), "Invert": lambda: F.invert(image)}
    if op not in calls:
        raise ValueError(f"unknown torchvision policy op {op!r}")
    return calls[op]()


def _torchvision_geometry(image: torch.Tensor, op: str, param: float, interpolation: str = "nearest") -> torch.Tensor:
    mode = F.InterpolationMode(interpolation)
    if op == "Rotate":
        return F.rotate(image, param, interpolation=mode)
    if op in ("ShearX", "ShearY"):
        shear = math.degrees(math.atan(param))
        return F.affine(image, angle=0.0, translate=[0, 0], scale=1.0,
                        shear=[shear, 0.0] if op == "ShearX" else [0.0, shear], interpolation=mode, center=[0, 0])
    shift = [int(param), 0] if op == "TranslateX" else [0, int(param)]
    return F.affine(image, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=mode)


@functools.lru_cache(maxsize=128)  # RandAugment and AutoAugment need ~20 maps, TrivialAugment's 31 bins ~600
def _index_map(op: str, param: float, height: int, width: int, mirrored: bool) -> np.ndarray:
    """(H * W,) int32: 1 + the source pixel (row-major) each output pixel takes, 0 for the fill,
    from torchvision's own kernel run on an image of those numbers (exact in float32 below 2**24)."""
    numbers = torch.arange(1, height * width + 1, dtype=torch.float32).view(1, height, width)
    if mirrored:
        return _torchvision_geometry(numbers.flip(-1), op, param).flip(-1).reshape(-1).to(torch.int32).numpy()
    return _torchvision_geometry(numbers, op, param).reshape(-1).to(torch.int32).numpy()


def _gather(chw: np.ndarray, index: np.ndarray) -> np.ndarray:
    c, h, w = chw.shape
    planes = np.zeros((c, h * w + 1), dtype=np.uint8)  # column 0: the fill
    planes[:, 1:] = chw.reshape(c, -1)
    return np.take(planes, index, axis=1).reshape(c, h, w)


@functools.lru_cache(maxsize=4096)
def _table(style: str, op: str, param: float, mean: int = -1) -> np.ndarray:
    """(256,) uint8: the style's own kernel on every value (PIL's Contrast: its blend with the grey `mean`)."""
    if style == "torchvision":
        values = torch.arange(256, dtype=torch.uint8).view(1, 1, 256).expand(3, 1, 256).contiguous()
        return torchvision_op(values, op, param)[0, 0].numpy()
    if op == "Contrast":
        out = Image.blend(Image.new("RGB", _VALUES.size, (mean,) * 3), _VALUES, param)
    else:
        out = _pil(_VALUES, op, param, FILTERS["nearest"], (0, 0, 0))
    return np.asarray(out)[0, :, 0].copy()


def _pil_grey_mean(chw: np.ndarray) -> int:
    """ImageEnhance.Contrast's grey: the mean of PIL's L = (19595 R + 38470 G + 7471 B + 2**15) >> 16, rounded."""
    r, g, b = (plane.astype(np.int32) for plane in chw)
    grey = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    return int(float(grey.mean(dtype=np.float64)) + 0.5)


def _autocontrast_tables(hist: np.ndarray, style: str) -> np.ndarray:
    """Autocontrast per channel (`hist`: (C, 256)) on every value, unchanged where the channel is
    flat: torchvision's (x - lo) / ((hi - lo) / 255) in float32, or PIL's int(x * s - lo * s) with
    s = 255 / (hi - lo) in float64, clamped."""
    occupied = hist > 0
    lo = occupied.argmax(axis=1).astype(np.float64)[:, None]
    hi = (255 - occupied[:, ::-1].argmax(axis=1)).astype(np.float64)[:, None]
    values = np.arange(256, dtype=np.float64)
    if style == "pil":
        scale = 255.0 / np.where(hi > lo, hi - lo, 1.0)
        out = np.where(hi > lo, (values * scale + -lo * scale).astype(np.int64), values)
        return np.clip(out, 0, 255).astype(np.uint8)
    lo32, hi32 = torch.from_numpy(lo).float(), torch.from_numpy(hi).float()
    same = hi32 == lo32
    inv_scale = hi32.sub(lo32).mul_(1.0 / 255)
    lo32[same], inv_scale[same] = 0.0, 1.0
    return torch.from_numpy(values).float().expand(len(lo), 256).sub(lo32).div_(inv_scale).clamp_(0, 255) \
        .to(torch.uint8).numpy()


def _equalize_tables(hists: np.ndarray) -> np.ndarray:
    """Equalize per channel (`hists`: (C, 256)), torchvision's and PIL's alike, in integers: the
    cumulative histogram without the last occupied bin's count, stepped by (pixels outside that
    bin) // 255; the identity where that step is 0."""
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


def affine_data(op: str, arg: float, width: int, height: int) -> tuple[float, ...]:
    """PIL's affine `data` (a, b, c, d, e, f) of a geometric op, input = (a x + b y + c, d x + e y + f):
    the output pixel centre -> the input position in image-edge coordinates (also what DALI's
    warp_affine takes with `inverse_map=True`)."""
    if op == "Rotate":  # Image.rotate's matrix about the centre (its cos/sin rounded to 15 digits)
        angle = -math.radians(arg % 360.0)
        a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
        d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
        cx, cy = width / 2.0, height / 2.0
        return (a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy)
    shear_x, shear_y = (arg, 0.0) if op == "ShearX" else (0.0, arg) if op == "ShearY" else (0.0, 0.0)
    shift_x, shift_y = (arg, 0.0) if op == "TranslateX" else (0.0, arg) if op == "TranslateY" else (0.0, 0.0)
    if op not in GEOMETRIC:
        raise ValueError(f"not a geometric op: {op!r}")
    return (1.0, shear_x, shift_x, shear_y, 1.0, shift_y)


def _pil_apply(image: torch.Tensor, op: str, param: float, resample: str, fill) -> torch.Tensor:
    out = _pil(to_pil(image), op, param, FILTERS[resample], tuple(int(v) for v in fill))
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A (3, H, W) uint8 tensor as a PIL RGB image: HWC memory as it is, planes interleaved by
    PIL's merge (8x numpy's transposing copy)."""
    hwc = image.permute(1, 2, 0)
    if hwc.is_contiguous():
        return Image.fromarray(hwc.numpy())
    height, width = hwc.shape[:2]
    planes = image.contiguous().numpy()
    return Image.merge("RGB", [Image.frombuffer("L", (width, height), plane, "raw", "L", 0, 1) for plane in planes])


def _pil(img: Image.Image, op: str, arg: float, resample, fill) -> Image.Image:
    """timm's PIL call for the op."""
    if op == "Rotate":
        return img.rotate(arg, resample=resample, fillcolor=fill)
    if op in GEOMETRIC:
        return img.transform(img.size, Image.Transform.AFFINE, affine_data(op, arg, *img.size),
                             resample=resample, fillcolor=fill)
    if op == "Invert":
        return ImageOps.invert(img)
    if op == "Posterize":  # 0 bits: black (PIL >= 12 refuses 0, which timm's increasing posterize reaches at m=10)
        return img if arg >= 8 else ImageOps.posterize(img, int(arg)) if arg >= 1 else img.point([0] * 768)
    if op == "Solarize":
        return ImageOps.solarize(img, arg)
    if op == "SolarizeAdd":  # timm's: add `arg` below 128, saturating
        return img.point([min(255, i + int(arg)) if i < 128 else i for i in range(256)] * 3)
    if op == "GaussianBlur":
        return img.filter(ImageFilter.GaussianBlur(radius=arg))
    enhance = {"Color": ImageEnhance.Color, "Brightness": ImageEnhance.Brightness,
               "Sharpness": ImageEnhance.Sharpness}.get(op)
    if enhance is None:
        raise ValueError(f"unknown PIL policy op {op!r}")
    return enhance(img).enhance(arg)
