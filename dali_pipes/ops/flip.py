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


class VerticalFlip(SampleOp):
    """`vflip`: (n,) bool, with probability `TrainTransform.vflip` (torchvision's RandomVerticalFlip,
    timm's `vflip`). It commutes with the horizontal flip, so it runs right after the crop, before
    every other pixel op, as timm orders it (after its horizontal flip, before the policies)."""

    stream, offset, draws = 0, 33, 1
    feeds = (Feed("vflip", "int32", ()),)

    @property
    def name(self) -> str:
        return "vertical_flip"

    def active(self, cfg) -> bool:
        return cfg.vflip > 0

    def draw(self, cfg, hw, u):
        return {"vflip": u[:, 0] < cfg.vflip}

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali import fn

        return fn.flip(images, horizontal=0, vertical=nodes["vflip"], device=device)

    def in_torch_node(self, cfg):
        return True

    def torch_node(self, image, feeds, cfg):
        return image.flip(-2) if feeds["vflip"] else image

    def torch(self, image, values, cfg):
        return F.vertical_flip(image) if values["vflip"] else image
