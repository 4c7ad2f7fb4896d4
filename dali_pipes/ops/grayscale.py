"""`TrainTransform.grayscale`: torchvision's RandomGrayscale(p) - the luma on all 3 channels.

On DALI the luma blend of dali_pipes.dali.nodes with factor 0 (grey) or 1 (unchanged): torchvision's
weights and truncation, the same pixels as `F.rgb_to_grayscale(image, 3)`.
"""

from __future__ import annotations

from torchvision.transforms.v2 import functional as F

from .base import Feed, SampleOp


class Grayscale(SampleOp):
    """`grayscale`: (n,) bool, the samples that turn grey."""

    field = "grayscale"
    stream, draws = 1, 1
    feeds = (Feed("grayscale", "float32", ()),)

    def draw(self, cfg, hw, u):
        return {"grayscale": u[:, 0] < cfg.grayscale.p}

    def dali(self, images, nodes, cfg, device):
        from ..dali.nodes import blend_with_luma, on_device

        return blend_with_luma(images, 1.0 - on_device(nodes["grayscale"], device))

    def torch(self, image, values, cfg):
        return F.rgb_to_grayscale(image, num_output_channels=3) if values["grayscale"] else image
