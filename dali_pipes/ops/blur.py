"""`TrainTransform.blur`: torchvision's GaussianBlur(kernel_size, sigma) with probability p.

DALI's `fn.gaussian_blur` has torchvision's kernel (exp(-x^2 / 2 sigma^2) over the window,
normalized), its reflected border (reflect-101) and its rounding back to uint8. A sample that is not
blurred gets a sigma so small that the kernel is exactly the identity: no branch in the graph.
"""

from __future__ import annotations

import numpy as np
from torchvision.transforms.v2 import functional as F

from .base import Feed, SampleOp

IDENTITY_SIGMA = 1e-3  # exp(-1 / (2 * 1e-6)) == 0 in float32: the kernel is a single 1


class Blur(SampleOp):
    """`blur`: (n,) bool, the samples blurred; `blur_sigma`: (n,) sigma drawn from `sigma`.
    Uniforms: apply, sigma."""

    field = "blur"
    stream, draws = 2, 2
    feeds = (Feed("blur_sigma", "float32", (2,)),)

    def draw(self, cfg, hw, u):
        lo, hi = cfg.blur.sigma
        return {"blur": u[:, 0] < cfg.blur.p, "blur_sigma": lo + u[:, 1] * (hi - lo)}

    def feed(self, values):
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
