"""`TrainTransform.auto_augment`: AutoAugment (ImageNet policy), RandAugment, TrivialAugmentWide.

No draws here: each backend's policy draws its own numbers (DALI's random ops, restored from DALI's
checkpoint on resume; torchvision's from torch's RNG, seeded per sample by the torchvision loader).
DALI's `nvidia.dali.auto_aug` runs with torchvision's fill (0) and translation limits (150/331 of the
image side for AutoAugment and RandAugment, 32 px for TrivialAugmentWide); its solarize thresholds
span 256..0 where torchvision's span 255..0.
"""

from __future__ import annotations

import functools

from torchvision.transforms import v2

from .base import SampleOp

TORCHVISION_TRANSLATE_REL = 150 / 331


@functools.lru_cache(maxsize=None)
def torchvision_policy(policy):
    if policy.policy == "autoaugment":
        return v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)
    if policy.policy == "randaugment":
        return v2.RandAugment(num_ops=policy.num_ops, magnitude=policy.magnitude,
                              num_magnitude_bins=policy.num_magnitude_bins)
    return v2.TrivialAugmentWide(num_magnitude_bins=policy.num_magnitude_bins)


class AutoAugmentOp(SampleOp):
    field = "auto_augment"
    needs_conditionals = True

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
