"""`TrainTransform.auto_augment`: AutoAugment (ImageNet policy), RandAugment, TrivialAugmentWide.

No draws here: each backend's policy draws its own numbers (DALI's random ops, restored from DALI's
checkpoint on resume; torchvision's from torch's RNG, seeded per sample by the torchvision loader).
DALI's `nvidia.dali.auto_aug` runs with torchvision's fill (0) and translation limits (150/331 of the
image side for AutoAugment and RandAugment, 32 px for TrivialAugmentWide); its solarize thresholds
span 256..0 where torchvision's span 255..0.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from torchvision.transforms import v2

from ..checks import positive_int, require
from ..errors import ConfigError
from .base import SampleOp

POLICIES = ("autoaugment", "randaugment", "trivialaugment")
TORCHVISION_TRANSLATE_REL = 150 / 331


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


@functools.lru_cache(maxsize=None)
def torchvision_policy(policy):
    if policy.policy == "autoaugment":
        return v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)
    if policy.policy == "randaugment":
        return v2.RandAugment(num_ops=policy.num_ops, magnitude=policy.magnitude,
                              num_magnitude_bins=policy.num_magnitude_bins)
    return v2.TrivialAugmentWide(num_magnitude_bins=policy.num_magnitude_bins)


def policy_from_timm(spec: str | None) -> AutoAugment | None:
    """timm's policy strings with a torchvision equivalent: "rand-m9-n2" (RandAugment), "original"
    / "v0" / "autoaugment" (AutoAugment, ImageNet policy), "trivialaugment" / "ta_wide"."""
    if not spec:
        return None
    if spec.startswith("rand"):
        options = {"m": 9, "n": 2}
        for part in spec.split("-")[1:]:
            found = re.fullmatch(r"([mn])(\d+)", part)
            if found is None:
                raise ConfigError(f"from_timm: auto_augment {spec!r}: option {part!r} has no equivalent in "
                                  "torchvision's RandAugment (supported: mM, nN)")
            options[found.group(1)] = int(found.group(2))
        return AutoAugment("randaugment", num_ops=options["n"], magnitude=options["m"])
    if spec in ("original", "v0", "autoaugment"):
        return AutoAugment("autoaugment")
    if spec in ("trivialaugment", "ta_wide"):
        return AutoAugment("trivialaugment")
    raise ConfigError(f"from_timm: auto_augment {spec!r} has no equivalent here (rand-mM-nN, original, ta_wide)")


class AutoAugmentOp(SampleOp):
    field, config = "auto_augment", AutoAugment
    needs_conditionals = True
    timm_args = ("auto_augment",)
    CPU_MS = {"autoaugment": (1.10, 0.46), "randaugment": (2.01, 1.00), "trivialaugment": (0.89, 0.48)}

    def cpu_cost(self, cfg):
        return self.CPU_MS[cfg.auto_augment.policy]

    def dali(self, images, nodes, cfg, device):
        from nvidia.dali.auto_aug import auto_augment as aa
        from nvidia.dali.auto_aug import rand_augment as ra
        from nvidia.dali.auto_aug import trivial_augment as ta

        policy, shape = cfg.auto_augment, [cfg.size, cfg.size]
        if policy.policy == "autoaugment":
            return aa.auto_augment(images, policy_name="image_net", shape=shape, fill_value=0,
                                   max_translate_rel=TORCHVISION_TRANSLATE_REL)
        if policy.policy == "randaugment":
            return ra.rand_augment(images, n=policy.num_ops, m=policy.magnitude,
                                   num_magnitude_bins=policy.num_magnitude_bins, shape=shape, fill_value=0,
                                   max_translate_rel=TORCHVISION_TRANSLATE_REL)
        return ta.trivial_augment_wide(images, num_magnitude_bins=policy.num_magnitude_bins, fill_value=0)

    def torch(self, image, values, cfg):
        return torchvision_policy(cfg.auto_augment)(image)

    def add_arguments(self, parser):
        parser.add_argument("--auto-augment", choices=POLICIES, default=None)

    def from_arguments(self, args):
        return AutoAugment(args.auto_augment) if args.auto_augment else None

    def from_timm(self, args):
        return policy_from_timm(args.get("auto_augment"))
