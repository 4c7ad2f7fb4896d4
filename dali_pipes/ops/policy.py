"""The policy engine both families run (torchvision's AutoAugment / RandAugment / TrivialAugmentWide
in `ops.auto_augment`, timm's in `ops.timm_augment`): which entry of a family's table each sample's
layer applies (`draw_layers`), the per-layer feeds, the inverse maps of the geometric ops
(`policy_geometry.layer_maps`), the DALI layers (`policy_graph.select_layer`) and the torch kernels
(`kernels.policy.apply`), which both the torchvision backend and dali-cpu's torch node run (the
node's geometric ops mirrored for the flipped samples, read from the fed flip: its graph flips last).

A family is a table over that one op set: its op names in the order of its fed ids, its style
(torchvision's arithmetic or PIL's), its fed value -> each op's parameter, each geometric op's map,
and its entries' level rules (how an entry's magnitude is drawn and what parameter it gives).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, NamedTuple

import numpy as np

from ..kernels import policy as kernels
from .base import SampleOp


class Plan(NamedTuple):
    """What a family's config applies: `groups` of entries (each with its apply probability `prob`).
    "rand": each of `layers` picks an entry of groups[0], uniformly with replacement or by `weights`
    without; "auto": each sample one group (a sub-policy), its k-th entry the k-th layer."""

    kind: str
    groups: tuple[tuple, ...]
    layers: int
    weights: tuple[float, ...] | None = None


def draw_layers(plan: Plan, u: np.ndarray, per_layer: int, level: Callable, op_ids: dict[str, int]):
    """(ops (n, layers, 2) int32: the family's op id, Identity (0) where nothing applies, and the
    entry's extra id; values (n, layers) float64) from uniforms `u` (n, 1 + per_layer * layers):
    u[:, 0] picks the sub-policy, then layer k's columns from 1 + per_layer k: the entry, the apply
    coin (the entry applies where it is <= prob), then the family's. `level(entry, columns)` -> (op
    name, values, extra ids) for the rows that apply it."""
    n, entries = len(u), [entry for group in plan.groups for entry in group]
    if plan.kind == "auto":
        starts, lengths = np.cumsum([0] + [len(g) for g in plan.groups]), np.array([len(g) for g in plan.groups])
        sub = np.minimum((u[:, 0] * len(plan.groups)).astype(np.int64), len(plan.groups) - 1)
        chosen = np.stack([np.where(k < lengths[sub], starts[sub] + k, -1) for k in range(plan.layers)], axis=1)
    else:
        chosen = _rand_choice(plan, [u[:, 1 + per_layer * k] for k in range(plan.layers)])
    ops, values = np.zeros((n, plan.layers, 2), dtype=np.int32), np.zeros((n, plan.layers))
    for k in range(plan.layers):
        columns = u[:, 1 + per_layer * k: 1 + per_layer * (k + 1)]
        for e, entry in enumerate(entries):
            rows = (chosen[:, k] == e) & (columns[:, 1] <= entry.prob)
            if rows.any():
                name, values[rows, k], ops[rows, k, 1] = level(entry, columns[rows])
                ops[rows, k, 0] = op_ids[name]
    return ops, values


def _rand_choice(plan: Plan, picks: list[np.ndarray]) -> np.ndarray:
    n, count = len(picks[0]), len(plan.groups[0])
    if plan.weights is None:
        return np.stack([np.minimum((pick * count).astype(np.int64), count - 1) for pick in picks], axis=1)
    weights = np.tile(np.asarray(plan.weights, dtype=np.float64), (n, 1))
    chosen = np.zeros((n, plan.layers), dtype=np.int64)
    for k, pick in enumerate(picks):
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        chosen[:, k] = np.minimum((cdf <= pick[:, None]).sum(axis=1), count - 1)  # searchsorted(side='right')
        weights[np.arange(n), chosen[:, k]] = 0.0
    return chosen


class PolicyOp(SampleOp, ABC):
    """A policy family: `ops_feed` (n, layers[, 2]) op ids (and the family's extra per-layer ids),
    `args_feed` (n, layers) each layer's fed value, `affine_feed` (n, layers, 2, 3) the maps."""

    ops_feed: str
    args_feed: str
    affine_feed: str
    names: tuple[str, ...] = ()  # the family's ops, by fed id
    style: str = "torchvision"  # the arithmetic of its ops (kernels.policy)
    reads = ("flip",)
    needs_conditionals = True

    @abstractmethod
    def layers(self, cfg) -> int:
        """How many layers `cfg` draws."""

    @abstractmethod
    def inverse_maps(self, ops: np.ndarray, args: np.ndarray, size: int, flips: np.ndarray) -> np.ndarray:
        """(n, layers, 2, 3): each layer's map for DALI's warp_affine (`policy_geometry.layer_maps`
        with the family's maps), mirrored for the flipped samples."""

    @staticmethod
    def param(op: str, value):
        """The op's parameter from the family's fed value (a float or a DALI node)."""
        return value

    @staticmethod
    def op_id(op):
        """A layer's op id from its row of the ops feed (an array or a DALI node)."""
        return op

    def filter_and_fill(self, op, cfg) -> tuple[str, tuple[int, ...]]:
        """The geometric ops' filter and fill for a layer (`op`: its row of the ops feed)."""
        return "nearest", (0, 0, 0)

    def feed(self, values, cfg):
        flips = np.asarray(values["flip"]).astype(bool)
        affine = self.inverse_maps(values[self.ops_feed], values[self.args_feed], cfg.size, flips)
        return super().feed({**values, self.affine_feed: affine}, cfg)

    def dali(self, images, nodes, cfg, device):
        from .policy_graph import select_layer

        ops, args, maps = nodes[self.ops_feed], nodes[self.args_feed], nodes[self.affine_feed]
        for k in range(self.layers(cfg)):
            images = select_layer(self.names, self.style, self.param, images, self.op_id(ops[k]), args[k], maps[k],
                                  device, cfg.size, getattr(cfg, self.field))
        return images

    def kernel(self, image, op, value: float, cfg, mirrored: bool = False):
        """The layer's op (`op`: its row of the ops feed) on a (3, H, W) uint8 tensor; `mirrored`:
        between two horizontal flips."""
        name = self.names[int(self.op_id(op))]
        resample, fill = self.filter_and_fill(op, cfg)
        return kernels.apply(image, name, self.param(name, value), self.style, resample, fill, mirrored)

    def in_torch_node(self, cfg):
        return True

    def torch_node(self, image, feeds, cfg):
        flipped = bool(feeds["flip"])
        for op, value in zip(feeds[self.ops_feed], feeds[self.args_feed]):
            mirrored = flipped and self.names[int(self.op_id(op))] in kernels.GEOMETRIC
            image = self.kernel(image, op, float(value), cfg, mirrored)
        return image

    def torch(self, image, values, cfg):
        for op, value in zip(values[self.ops_feed], values[self.args_feed]):
            image = self.kernel(image, op, float(value), cfg)
        return image
