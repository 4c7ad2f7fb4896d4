"""`TrainTransform.color_jitter`: torchvision's ColorJitter.

The factors are the same numbers on both backends. Brightness, contrast and saturation use
torchvision's arithmetic exactly (blends with the floored grayscale, truncated to uint8). By design
(see docs/augmentation.md), DALI applies the four in a fixed order (torchvision draws a random order
per sample, drawn here and used by the torchvision kernel), and DALI's hue rotates the chroma plane
in YIQ space where torchvision shifts the HSV hue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from ..checks import each_field, probability, require
from ..kernels.color import brightness, contrast, dali_hue, luma, saturation
from .base import Feed, SampleOp


@dataclass(frozen=True)
class ColorJitter:
    """torchvision's ColorJitter: factors drawn per sample from [max(0, 1 - b), 1 + b] (brightness,
    contrast, saturation), a hue shift from [-h, h] (fraction of the colour wheel, h <= 0.5), all
    applied to a sample with probability `p`."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.0
    p: float = 1.0

    def __post_init__(self):
        each_field(self, ("brightness", "contrast", "saturation"),
                   lambda v: isinstance(v, (int, float)) and v >= 0, "must be a number >= 0")
        require(isinstance(self.hue, (int, float)) and 0 <= self.hue <= 0.5, "ColorJitter.hue",
                f"must lie in [0, 0.5], got {self.hue!r}")
        probability(self.p, "ColorJitter.p")

    def factor_range(self, name: str) -> tuple[float, float]:
        value = float(getattr(self, name))
        return max(0.0, 1.0 - value), 1.0 + value


_FLOAT_KERNELS = (brightness, contrast, saturation)  # torchvision's arithmetic on float levels (kernels.color)


_IDENTITY = (1.0, 1.0, 1.0, 0.0)


def _levels(levels: np.ndarray, table: torch.Tensor) -> torch.Tensor:
    """Contiguous (3, H, W) float pixels: the uint8 (3, H, W) levels through the 256-entry float table."""
    return torch.from_numpy(np.take(table.numpy(), levels))


class ColorJitterOp(SampleOp):
    """`jitter`: (n, 4) brightness, contrast, saturation factors and hue shift (turns), identity where
    the sample is not jittered (probability 1 - p); `jitter_order`: (n, 4) a permutation of 0..3.
    Uniforms: apply, 4 factors, 4 sort keys of the order."""

    field, config = "color_jitter", ColorJitter
    stream, offset, draws = 0, 23, 9
    feeds = (Feed("jitter", "float32", (4,)),)
    timm_args = ("color_jitter", "color_jitter_prob", "force_color_jitter")
    def cpu_cost(self, cfg):
        """b, c, s 0.4 on every sample (identity factors where off); the hue shift costs torchvision's
        kernel most (benchmarks/augment_cost.py)."""
        return (0.64, 0.22) if not cfg.color_jitter.hue else (0.72, 1.33)

    def draw(self, cfg, hw, u):
        cj = cfg.color_jitter
        jitter = np.tile(np.array(_IDENTITY), (len(hw), 1))
        for k, name in enumerate(("brightness", "contrast", "saturation")):
            lo, hi = cj.factor_range(name)
            jitter[:, k] = lo + u[:, 1 + k] * (hi - lo)
        jitter[:, 3] = cj.hue * (2 * u[:, 4] - 1)
        jitter[u[:, 0] >= cj.p] = _IDENTITY
        return {"jitter": jitter, "jitter_order": np.argsort(u[:, 5:9], axis=1)}

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali import fn, types

        from ..kernels.nodes import blend_with_luma, blend_with_mean_luma, on_device, to_uint8

        cj, jitter = cfg.color_jitter, nodes["jitter"]
        if cj.brightness > 0:
            images = to_uint8(fn.cast(images, dtype=types.FLOAT) * on_device(jitter[0], device))
        if cj.contrast > 0:
            images = blend_with_mean_luma(images, on_device(jitter[1], device))
        if cj.saturation > 0:
            images = blend_with_luma(images, on_device(jitter[2], device))
        if cj.hue > 0:  # fraction of the wheel -> degrees
            images = fn.hue(images, device=device, hue=jitter[3] * 360.0)
        return images

    def in_torch_node(self, cfg):
        return True

    def torch_node(self, image, feeds, cfg):
        """The graph's brightness, contrast, saturation and hue (its fixed order). The first three
        with torchvision's kernels' arithmetic: brightness, and contrast given its grey level, are
        point ops, tables of that arithmetic on the 256 levels, composed and looked up once (floor of
        the clamped value is the uint8 truncation each kernel ends with, so the levels are theirs
        exactly); saturation blends with each pixel's luma in float. The hue is DALI's fn.hue."""
        cj, (b, c, s, h) = cfg.color_jitter, (float(v) for v in feeds["jitter"])
        levels = np.asarray(image)  # (3, H, W) in its memory layout; each lookup writes it contiguous
        table = torch.arange(256, dtype=torch.float32)
        if cj.brightness > 0:
            table = brightness(table, b)
        if cj.contrast > 0:
            mean = torch.mean(luma(_levels(levels, table)), dim=(-3, -2, -1), keepdim=True)
            table = contrast(table, c, mean.view(1))
        rotates = cj.hue > 0 and h != 0
        if cj.saturation == 0 and not rotates:
            return torch.from_numpy(np.take(table.to(torch.uint8).numpy(), levels))
        pixels = _levels(levels, table)
        if cj.saturation > 0:
            pixels = saturation(pixels, s)
        return dali_hue(pixels, h * 360.0) if rotates else pixels.to(torch.uint8)

    def torch(self, image, values, cfg):
        """torchvision's ColorJitter: its kernels in a random order per sample. Brightness, contrast
        and saturation run their arithmetic on float levels converted once (each kernel's uint8
        truncation is a floor: the same pixels at half the cost); the hue is torchvision's kernel."""
        cj = cfg.color_jitter
        on = (cj.brightness > 0, cj.contrast > 0, cj.saturation > 0, cj.hue > 0)
        pixels = None  # the float levels, while the image is held as such
        for k in values["jitter_order"]:
            if not on[k]:
                continue
            factor = float(values["jitter"][k])
            if k == 3:
                image = F.adjust_hue(image if pixels is None else pixels.to(torch.uint8), factor)
                pixels = None
            else:
                pixels = _FLOAT_KERNELS[k](image.to(torch.float32) if pixels is None else pixels, factor)
        return image if pixels is None else pixels.to(torch.uint8)

    def add_arguments(self, parser):
        parser.add_argument("--color-jitter", type=float, nargs=4, metavar=("B", "C", "S", "H"), default=None,
                            help="ColorJitter(brightness, contrast, saturation, hue)")

    def from_arguments(self, args):
        return ColorJitter(*args.color_jitter) if args.color_jitter else None

    def from_timm(self, args):
        """timm's rule: an auto-augment policy turns the jitter off, unless `force_color_jitter` or a
        '3a' policy; 3 or 4 factors, or one number for brightness, contrast and saturation."""
        jitter, policy = args.get("color_jitter", 0.4), args.get("auto_augment")
        if not jitter or (policy and not (args.get("force_color_jitter") or "3a" in policy)):
            return None
        values = (jitter,) * 3 if isinstance(jitter, (int, float)) else tuple(jitter)
        return ColorJitter(*values, p=args.get("color_jitter_prob") or 1.0)
