"""`TrainTransform.blur`: torchvision's GaussianBlur(kernel_size, sigma) with probability p.

DALI's `fn.gaussian_blur` has torchvision's kernel (exp(-x^2 / 2 sigma^2) over the window,
normalized), its reflected border (reflect-101) and its rounding back to uint8. A sample that is not
blurred gets a sigma so small that the kernel is exactly the identity: no branch in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from ..checks import pair, probability, require
from .base import Feed, SampleOp

IDENTITY_SIGMA = 1e-3  # exp(-1 / (2 * 1e-6)) == 0 in float32: the kernel is a single 1
TIMM_KERNEL = 23  # timm's create_transform(gaussian_blur_prob=...) blurs with GaussianBlur(23)


@dataclass(frozen=True)
class GaussianBlur:
    """torchvision's GaussianBlur(kernel_size, sigma), applied with probability `p` (torchvision's
    RandomApply; SimCLR uses p=0.5, BYOL 1.0 and 0.1): sigma drawn uniformly from `sigma` per sample,
    the same for both axes; `kernel_size` odd, an int or (width, height); reflected borders."""

    kernel_size: int | tuple[int, int] = 23
    sigma: float | tuple[float, float] = (0.1, 2.0)
    p: float = 1.0

    def __post_init__(self):
        sizes = (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        require(len(sizes) == 2 and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 and k % 2 == 1
                                        for k in sizes), "GaussianBlur.kernel_size",
                f"expected an odd positive integer or a pair of them (width, height), got {self.kernel_size!r}")
        sigma = (self.sigma, self.sigma) if isinstance(self.sigma, (int, float)) else self.sigma
        sigma = pair(sigma, "GaussianBlur.sigma")
        require(sigma[0] > 0, "GaussianBlur.sigma", f"must be > 0, got {sigma}")
        probability(self.p, "GaussianBlur.p")
        object.__setattr__(self, "kernel_size", sizes)
        object.__setattr__(self, "sigma", sigma)


class Blur(SampleOp):
    """`blur`: (n,) bool, the samples blurred; `blur_sigma`: (n,) sigma drawn from `sigma`.
    Uniforms: apply, sigma."""

    field, config = "blur", GaussianBlur
    stream, draws = 2, 2
    feeds = (Feed("blur_sigma", "float32", (2,)),)
    timm_args = ("gaussian_blur_prob",)

    def cpu_cost(self, cfg):  # kernel 23, on the samples the coin picks on both CPU backends
        return 2.4 * cfg.blur.p, 18.0 * cfg.blur.p

    def check(self, cfg):
        # reflected borders need the kernel's half inside the image
        require(max(cfg.blur.kernel_size) // 2 < cfg.size, "TrainTransform.blur",
                f"kernel_size {cfg.blur.kernel_size} needs an image larger than half of it; size is {cfg.size}")

    def draw(self, cfg, hw, u):
        lo, hi = cfg.blur.sigma
        return {"blur": u[:, 0] < cfg.blur.p, "blur_sigma": lo + u[:, 1] * (hi - lo)}

    def feed(self, values, cfg):
        sigma = np.where(values["blur"], values["blur_sigma"], IDENTITY_SIGMA)
        return {"blur_sigma": np.ascontiguousarray(np.stack([sigma, sigma], axis=1), dtype=np.float32)}

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali import fn

        width, height = cfg.blur.kernel_size  # torchvision's order; DALI's follows the layout (H, W)
        return fn.gaussian_blur(images, device=device, window_size=[height, width], sigma=nodes["blur_sigma"])

    def torch(self, image, values, cfg):
        if not values["blur"]:
            return image
        sigma = float(values["blur_sigma"])
        return F.gaussian_blur(image, list(cfg.blur.kernel_size), [sigma, sigma])

    def in_torch_node(self, cfg):
        return True

    def torch_node(self, image, feeds, cfg):
        """Only the samples the coin picked, and separably (two 1-D passes instead of torchvision's
        2-D kernel: the same weights, summed in another order, so within 1 level of it)."""
        sigma = float(feeds["blur_sigma"][0])
        if sigma <= IDENTITY_SIGMA * 1.01:  # fed for the samples left alone
            return image
        return separable_gaussian_blur(image, cfg.blur.kernel_size, sigma)

    def add_arguments(self, parser):
        parser.add_argument("--blur", type=float, default=None, metavar="P", help="GaussianBlur probability")
        parser.add_argument("--blur-kernel", type=int, default=23, metavar="K",
                            help="GaussianBlur kernel size (default 23)")

    def from_arguments(self, args):
        return GaussianBlur(args.blur_kernel, p=args.blur) if args.blur is not None else None

    def from_timm(self, args):
        p = args.get("gaussian_blur_prob")
        return GaussianBlur(TIMM_KERNEL, p=p) if p else None


def separable_gaussian_blur(image: torch.Tensor, kernel_size: tuple[int, int], sigma: float) -> torch.Tensor:
    """torchvision's gaussian_blur of a (3, H, W) uint8 image (its 1-D kernels, reflected borders,
    rounding), as a row pass then a column pass."""
    width, height = kernel_size
    pixels = image.to(torch.float32).contiguous().unsqueeze(0)  # planar: conv2d is slow on channels-last
    pixels = torch.nn.functional.pad(pixels, [width // 2, width // 2, height // 2, height // 2], mode="reflect")
    for size, shape in ((width, (3, 1, 1, width)), (height, (3, 1, height, 1))):
        half = (size - 1) * 0.5
        x = torch.linspace(-half, half, steps=size)
        pdf = torch.exp(-0.5 * (x / sigma).pow(2))
        pixels = torch.nn.functional.conv2d(pixels, (pdf / pdf.sum()).view(shape[1:]).expand(shape), groups=3)
    return pixels.round_().clamp_(0, 255).to(torch.uint8)[0]
