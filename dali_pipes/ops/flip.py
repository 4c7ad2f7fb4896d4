"""The horizontal flip with probability `TrainTransform.hflip` (torchvision's RandomHorizontalFlip).

On DALI it is the `mirror` of the final crop_mirror_normalize (stage "mirror"): it commutes with every
op after the crop (the photometric ops exactly, the blur's kernel is symmetric, and the auto-augment
operations are symmetric in sign), so the output distribution is torchvision's.
"""

from __future__ import annotations

from torchvision.transforms.v2 import functional as F

from .base import Feed, SampleOp


class Flip(SampleOp):
    """`flip`: (n,) bool."""

    stream, offset, draws = 0, 22, 1
    feeds = (Feed("flip", "int32", ()),)
    stage = "mirror"

    def draw(self, cfg, hw, u):
        return {"flip": u[:, 0] < cfg.hflip}

    def torch(self, image, values, cfg):
        return F.horizontal_flip(image) if values["flip"] else image
