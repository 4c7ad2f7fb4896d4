"""`TrainTransform.auto_augment`: AutoAugment (ImageNet policy), RandAugment, TrivialAugmentWide,
as torchvision defines them (its op spaces and policy tables, read from torchvision itself).

The op choices, magnitudes and signs are drawn here, from the op's own counter stream (torchvision's
sampling: one op per layer uniformly, the sign a fair coin, AutoAugment's sub-policy uniformly and
each of its ops applied with its probability), so every backend applies the same ops to the same
sample, independent of threads, and a resume repeats them. What applies them: on both CPU backends
torchvision's kernels' results, computed faster (`kernels.policy.apply`, held equal to torchvision's
own kernels pixel for pixel by tests/parity/test_policies.py), in DALI graphs (the GPU's) DALI
operators chosen per sample by DALI's conditionals (`dali_pipes.ops.policy_graph`, within the
bounds of docs/parity.md). The machinery both policy families share is `ops.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from torchvision.transforms import v2

from ..checks import positive_int, require
from ..kernels import policy as kernels
from .base import Feed
from .policy import Plan, PolicyOp, draw_layers
from .policy_geometry import layer_maps, torchvision_edge

POLICIES = ("autoaugment", "randaugment", "trivialaugment")
FILTERS = ("nearest", "bilinear")  # torchvision's geometric kernels on tensors


@dataclass(frozen=True)
class AutoAugment:
    """A learned or random augmentation policy by name: AutoAugment (ImageNet policy),
    RandAugment(num_ops, magnitude), TrivialAugmentWide. `interpolation`: the geometric ops' filter,
    torchvision's default "nearest" or "bilinear" (what torchvision's classification references pass)."""

    policy: str = "autoaugment"
    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31
    interpolation: str = "nearest"

    def __post_init__(self):
        require(self.policy in POLICIES, "AutoAugment.policy", f"must be one of {POLICIES}, got {self.policy!r}")
        require(self.interpolation in FILTERS, "AutoAugment.interpolation",
                f"must be one of {FILTERS}, got {self.interpolation!r}")
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
PER_LAYER = 3  # uniforms per layer: the op, AutoAugment's apply coin or TrivialAugment's bin, the sign
# torchvision's op space, in the order of the fed ids (pinned by tests/test_pinned_seeds.py)
OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
OP_ID = {name: k for k, name in enumerate(OPS)}
GEOMETRIC = kernels.GEOMETRIC


def param(op: str, magnitude):
    """torchvision's signed magnitude -> the op's parameter (its kernels take 1 + m as the enhancers'
    factor, 255 m as solarize's threshold); a float or a DALI node."""
    if op in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 1.0 + magnitude
    return 255.0 * magnitude if op == "Solarize" else magnitude


def reference(image, op: str, magnitude: float, interpolation: str = "nearest"):
    """torchvision's own kernel for the op and magnitude (what its policies call)."""
    return kernels.torchvision_op(image, op, param(op, magnitude), interpolation)


def fast(image, op: str, magnitude: float, mirrored: bool = False, interpolation: str = "nearest"):
    """`reference`'s result, computed faster (`kernels.policy.apply`); `mirrored`: between two flips."""
    return kernels.apply(image, op, param(op, magnitude), resample=interpolation, mirrored=mirrored)


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


class Entry(NamedTuple):
    """An op of a torchvision policy: its apply probability and magnitude bin (None: the op has no
    magnitude; -1: drawn uniformly, TrivialAugment's)."""

    name: str
    prob: float
    bin: int | None


def plan(policy: AutoAugment, names: list[str]) -> Plan:
    """The policy as a table of the policy engine (ops.policy): AutoAugment's ImageNet sub-policies,
    or RandAugment's / TrivialAugment's layers over the op space `names`."""
    if policy.policy == "autoaugment":
        subs = v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)._policies
        return Plan("auto", tuple(tuple(Entry(*op) for op in sub) for sub in subs), 2)
    bin_ = policy.magnitude if policy.policy == "randaugment" else -1
    return Plan("rand", (tuple(Entry(name, 1.0, bin_) for name in names),), layers(policy))


def layers(policy: AutoAugment) -> int:
    return {"autoaugment": 2, "randaugment": policy.num_ops, "trivialaugment": 1}[policy.policy]


def draw_policy(policy: AutoAugment, size: int, u: np.ndarray):
    """(ops (n, layers) int32 ids of `OPS`, Identity where nothing applies; magnitudes (n, layers)
    float32, signed) from uniforms `u` (n, 1 + PER_LAYER * MAX_LAYERS) with torchvision's sampling:
    per layer k the op (column 1 + 3k; AutoAugment's sub-policy from u[:, 0]), the apply coin or the
    bin (2 + 3k) and the sign (3 + 3k: negative below 0.5, torchvision's `rand() <= 0.5`)."""
    names, table, signed = policy_space(policy, size)

    def level(entry: Entry, c: np.ndarray):
        local = names.index(entry.name)
        if entry.bin is None:
            return entry.name, 0.0, 0
        bins = entry.bin if entry.bin >= 0 else np.minimum((c[:, 1] * table.shape[1]).astype(np.int64),
                                                           table.shape[1] - 1)
        return entry.name, np.where(signed[local] & (c[:, 2] <= 0.5), -1, 1) * table[local, bins], 0

    ops, mags = draw_layers(plan(policy, names), u, PER_LAYER, level, OP_ID)
    return ops[..., 0], mags.astype(np.float32)


def inverse_maps(ops: np.ndarray, mags: np.ndarray, size: int, flips: np.ndarray) -> np.ndarray:
    """torchvision's policies' maps (`policy_geometry.layer_maps`), from the matrices its kernels build."""
    return layer_maps(ops, mags, flips, size, OPS, torchvision_edge)


def apply_layer(images, op, mag, affine, device: str, size: int, t: AutoAugment | None = None):
    """A layer of torchvision's policies in a DALI graph (`policy_graph.select_layer`); `t`: its filter."""
    from .policy_graph import select_layer

    return select_layer(OPS, "torchvision", param, images, op, mag, affine, device, size, t)


class AutoAugmentOp(PolicyOp):
    """`policy_ops` / `policy_mags`: (n, layers) op ids and signed magnitudes (`draw_policy`), and
    `policy_affine` (n, layers, 2, 3) the geometric ops' maps for DALI's warp_affine, mirrored for the
    flipped samples (the graph flips last, where torchvision flips before the policy)."""

    field, config = "auto_augment", AutoAugment
    stream, draws = 3, 1 + PER_LAYER * MAX_LAYERS
    feeds = (Feed("policy_ops", "int32", (-1,)), Feed("policy_mags", "float32", (-1,)),
             Feed("policy_affine", "float32", (-1, 2, 3)))
    ops_feed, args_feed, affine_feed = "policy_ops", "policy_mags", "policy_affine"
    names, style = OPS, "torchvision"
    param = staticmethod(param)
    inverse_maps = staticmethod(inverse_maps)
    CPU_MS = {"autoaugment": (0.40, 0.19), "randaugment": (0.49, 0.27), "trivialaugment": (0.41, 0.18)}

    def filter_and_fill(self, op, cfg):
        return cfg.auto_augment.interpolation, (0, 0, 0)

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

    def add_arguments(self, parser):
        parser.add_argument("--auto-augment", choices=POLICIES, default=None)

    def from_arguments(self, args):
        return AutoAugment(args.auto_augment) if args.auto_augment else None

    def from_timm(self, args):
        return policy_from_timm(args.get("auto_augment"))
