"""What the two policy families (torchvision's AutoAugment / RandAugment / TrivialAugmentWide in
`ops.auto_augment`, timm's in `ops.timm_augment`) share, written once: the per-layer feeds, the
inverse maps of their geometric ops (`policy_geometry.layer_maps`), the DALI graph's layers (each
sample's op chosen by DALI's conditionals among the family's branches) and one torch kernel per
op, which both the torchvision backend and dali-cpu's torch node run (the node's geometric ops
mirrored for the flipped samples, read from the fed flip: its graph flips last).

A family says what differs: its op names and geometric ones, each geometric op's map, its DALI
layer, its kernel, how many layers a config draws and how it draws them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .base import SampleOp


class PolicyOp(SampleOp, ABC):
    """A policy family: `ops_feed` (n, layers[, 2]) op ids (and the family's extra per-layer ids),
    `args_feed` (n, layers) each layer's parameter, `affine_feed` (n, layers, 2, 3) the maps."""

    ops_feed: str
    args_feed: str
    affine_feed: str
    names: tuple[str, ...] = ()  # the family's ops, by id
    geometric: tuple[str, ...] = ()
    reads = ("flip",)
    needs_conditionals = True

    @abstractmethod
    def layers(self, cfg) -> int:
        """How many layers `cfg` draws."""

    @abstractmethod
    def inverse_maps(self, ops: np.ndarray, args: np.ndarray, size: int, flips: np.ndarray) -> np.ndarray:
        """(n, layers, 2, 3): each layer's map for DALI's warp_affine (`policy_geometry.layer_maps`
        with the family's maps), mirrored for the flipped samples."""

    @abstractmethod
    def graph_layer(self, images, op, arg, affine, cfg, device: str):
        """One layer in a DALI graph: each sample's op `op` (an int32 node) with its `arg` and map."""

    @abstractmethod
    def kernel(self, image, op, arg: float, cfg, mirrored: bool):
        """The op (`op`: its row of the ops feed) on a (3, H, W) uint8 tensor; `mirrored`: between two
        horizontal flips."""

    @staticmethod
    def op_id(op):
        """A layer's op id from its row of the ops feed (an array or a DALI node)."""
        return op

    def feed(self, values, cfg):
        flips = np.asarray(values["flip"]).astype(bool)
        affine = self.inverse_maps(values[self.ops_feed], values[self.args_feed], cfg.size, flips)
        return super().feed({**values, self.affine_feed: affine}, cfg)

    def dali(self, images, nodes, cfg, device):
        ops, args, maps = nodes[self.ops_feed], nodes[self.args_feed], nodes[self.affine_feed]
        for k in range(self.layers(cfg)):
            images = self.graph_layer(images, self.op_id(ops[k]), args[k], maps[k], cfg, device)
        return images

    def in_torch_node(self, cfg):
        return True

    def torch_node(self, image, feeds, cfg):
        flipped = bool(feeds["flip"])
        for op, arg in zip(feeds[self.ops_feed], feeds[self.args_feed]):
            mirrored = flipped and self.names[int(self.op_id(op))] in self.geometric
            image = self.kernel(image, op, float(arg), cfg, mirrored)
        return image

    def torch(self, image, values, cfg):
        for op, arg in zip(values[self.ops_feed], values[self.args_feed]):
            image = self.kernel(image, op, float(arg), cfg, False)
        return image
