"""`TrainTransform.auto_augment`: AutoAugment (ImageNet policy), RandAugment, TrivialAugmentWide,
as torchvision defines them (its op spaces and policy tables, read from torchvision itself).

The op choices, magnitudes and signs are drawn here, from the op's own counter stream (torchvision's
sampling: one op per layer uniformly, the sign a fair coin, AutoAugment's sub-policy uniformly and
each of its ops applied with its probability), so every backend applies the same ops to the same
sample, independent of threads, and a resume repeats them. What applies them: on both CPU backends
torchvision's kernels' results, computed faster (`kernels.policy.fast`, held equal to torchvision's
own kernels pixel for pixel by tests/parity/test_policies.py), in DALI graphs (the GPU's) DALI
operators chosen per sample by DALI's conditionals (`dali_pipes.ops.policy_graph`, within the
bounds of docs/parity.md). The machinery both policy families share is `ops.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torchvision.transforms import v2

from ..checks import positive_int, require
from ..kernels import policy as policy_kernels
from ..kernels.policy import OP_ID
from .base import Feed
from .policy import PolicyOp
from .policy_geometry import inverse_maps

POLICIES = ("autoaugment", "randaugment", "trivialaugment")


@dataclass(frozen=True)
class AutoAugment:
    """A learned or random augmentation policy by name: AutoAugment (ImageNet policy),
    RandAugment(num_ops, magnitude), TrivialAugmentWide."""

    policy: str = "autoaugment"
    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31

    def __post_init__(self):
        require(self.policy in POLICIES, "AutoAugment.policy", f"must be one of {POLICIES}, got {self.policy!r}")
        positive_int(self.num_ops, "AutoAugment.num_ops")
        positive_int(self.num_magnitude_bins, "AutoAugment.num_magnitude_bins")
        require(isinstance(self.magnitude, int) and 0 <= self.magnitude < self.num_magnitude_bins,
                "AutoAugment.magnitude",
                f"must be an integer in [0, {self.num_magnitude_bins}), got {self.magnitude!r}")


def policy_from_timm(spec: str | None) -> AutoAugment | None:
    """The one timm auto_augment string with no timm policy behind it: "ta_wide" / "trivialaugment"
    (timm has no TrivialAugment) is torchvision's TrivialAugmentWide. timm's own strings are
    `TimmAugment`s (dali_pipes.ops.timm_augment)."""
    from .timm_augment import TORCHVISION_ONLY

    return AutoAugment("trivialaugment") if spec in TORCHVISION_ONLY else None


MAX_LAYERS = 16  # the op's counter span holds this many layers' draws (RandAugment's num_ops)


def policy_space(policy: AutoAugment, size: int):
    """torchvision's op space for `policy` on `size` x `size` images: (op names, magnitude table
    (ops, bins) float32 with 0 where an op has none, signed per op)."""
    space = {"autoaugment": v2.AutoAugment, "randaugment": v2.RandAugment,
             "trivialaugment": v2.TrivialAugmentWide}[policy.policy]._AUGMENTATION_SPACE
    bins = 10 if policy.policy == "autoaugment" else policy.num_magnitude_bins
    names, signed = list(space), np.array([space[n][1] for n in space])
    table = np.zeros((len(names), bins), dtype=np.float32)
    for k, name in enumerate(names):
        values = space[name][0](bins, size, size)
        if values is not None:
            table[k] = values.numpy().astype(np.float32)
    return names, table, signed


def imagenet_policy():
    """torchvision's AutoAugment ImageNet sub-policies: ((op, probability, magnitude bin or None), x2)."""
    return v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)._policies


def layers(policy: AutoAugment) -> int:
    return {"autoaugment": 2, "randaugment": policy.num_ops, "trivialaugment": 1}[policy.policy]


def draw_policy(policy: AutoAugment, size: int, u: np.ndarray):
    """(ops (n, layers) int32 op ids of `kernels.policy.OPS`, Identity where nothing applies;
    magnitudes (n, layers) float32, signed) from uniforms `u` (n, 1 + 3 * MAX_LAYERS): u[:, 0] picks
    AutoAugment's sub-policy, then per layer k the op (1 + 3k), the bin or AutoAugment's apply coin
    (2 + 3k) and the sign (3 + 3k; negative below 0.5, torchvision's `rand() <= 0.5`)."""
    names, table, signed = policy_space(policy, size)
    n, count = len(u), layers(policy)
    ops, mags = np.zeros((n, count), dtype=np.int32), np.zeros((n, count), dtype=np.float32)
    if policy.policy == "autoaugment":
        subs = imagenet_policy()
        chosen = np.minimum((u[:, 0] * len(subs)).astype(np.int64), len(subs) - 1)
        for k in range(count):
            for s, sub in enumerate(subs):
                name, prob, bin_ = sub[k]
                rows = (chosen == s) & (u[:, 2 + 3 * k] <= prob)
                local = names.index(name)
                ops[rows, k] = OP_ID[name]
                mags[rows, k] = table[local, bin_] if bin_ is not None else 0.0
                if signed[local]:
                    mags[rows & (u[:, 3 + 3 * k] <= 0.5), k] *= -1
        return ops, mags
    ids = np.array([OP_ID[name] for name in names], dtype=np.int32)
    for k in range(count):
        local = np.minimum((u[:, 1 + 3 * k] * len(names)).astype(np.int64), len(names) - 1)
        if policy.policy == "randaugment":
            bins = np.full(n, policy.magnitude)
        else:
            bins = np.minimum((u[:, 2 + 3 * k] * table.shape[1]).astype(np.int64), table.shape[1] - 1)
        ops[:, k] = ids[local]
        mags[:, k] = np.where(signed[local] & (u[:, 3 + 3 * k] <= 0.5), -1, 1) * table[local, bins]
    return ops, mags


class AutoAugmentOp(PolicyOp):
    """`policy_ops` / `policy_mags`: (n, layers) op ids and signed magnitudes (`draw_policy`). The
    graph flips last (fused into its final op) where torchvision flips before the policy, so the
    geometric ops of flipped samples are fed mirrored: `policy_affine`, (n, layers, 2, 3) the inverse
    maps of DALI's warp_affine. Both CPU backends run `kernels.policy.fast` (torchvision's kernels'
    results, pixel for pixel)."""

    field, config = "auto_augment", AutoAugment
    stream, draws = 3, 1 + 3 * MAX_LAYERS
    feeds = (Feed("policy_ops", "int32", (-1,)), Feed("policy_mags", "float32", (-1,)),
             Feed("policy_affine", "float32", (-1, 2, 3)))
    ops_feed, args_feed, affine_feed = "policy_ops", "policy_mags", "policy_affine"
    names, geometric = policy_kernels.OPS, policy_kernels.GEOMETRIC
    CPU_MS = {"autoaugment": (0.59, 0.70), "randaugment": (1.08, 0.86), "trivialaugment": (0.53, 0.60)}

    def check(self, cfg):
        require(layers(cfg.auto_augment) <= MAX_LAYERS, "AutoAugment.num_ops",
                f"at most {MAX_LAYERS} layers, got {cfg.auto_augment.num_ops}")

    def cpu_cost(self, cfg):
        return self.CPU_MS[cfg.auto_augment.policy]

    def layers(self, cfg):
        return layers(cfg.auto_augment)

    def draw(self, cfg, hw, u):
        ops, mags = draw_policy(cfg.auto_augment, cfg.size, u)
        return {"policy_ops": ops, "policy_mags": mags}

    inverse_maps = staticmethod(inverse_maps)

    def graph_layer(self, images, op, mag, affine, cfg, device):
        from .policy_graph import apply_layer

        return apply_layer(images, op, mag, affine, device, cfg.size)

    def kernel(self, image, op, mag, cfg, mirrored):
        return policy_kernels.fast(image, self.names[int(op)], mag, mirrored)

    def add_arguments(self, parser):
        parser.add_argument("--auto-augment", choices=POLICIES, default=None)

    def from_arguments(self, args):
        return AutoAugment(args.auto_augment) if args.auto_augment else None

    def from_timm(self, args):
        return policy_from_timm(args.get("auto_augment"))
