"""Named train recipes for `dali-pipes bench --recipe NAME`: one augmentation recipe, written once for
each contender - dali-pipes' `TrainTransform` (+ `MixUpCutMix`), the classic torchvision pipeline
(PIL transforms in DataLoader workers) and timm's `create_loader` arguments - so every row of a
recipe's table trains with the same augmentations. Where a contender cannot express a recipe, or
means something else by it, `differs` says so and the table shows it.

All recipes start with RandomResizedCrop(224) + RandomHorizontalFlip(0.5) and ImageNet normalization.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..config import Preprocess
from ..mix import MixUpCutMix
from ..ops.auto_augment import AutoAugment
from ..ops.blur import GaussianBlur
from ..ops.color_jitter import ColorJitter
from ..ops.erasing import RandomErasing
from ..ops.grayscale import RandomGrayscale
from ..ops.timm_augment import TimmAugment


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    train: dict = field(default_factory=dict)  # TrainTransform fields
    mix: dict | None = None  # MixUpCutMix arguments (besides num_classes)
    timm: dict | None = field(default_factory=dict)  # timm create_loader arguments; None: timm cannot
    differs: dict = field(default_factory=dict)  # contender -> how its version of the recipe differs

    def preset(self, base: Preprocess | None = None) -> Preprocess:
        base = base or Preprocess()
        return replace(base, train=replace(base.train, **self.train))

    def mixer(self, num_classes: int, seed: int = 0) -> MixUpCutMix | None:
        return None if self.mix is None else MixUpCutMix(num_classes, seed=seed, **self.mix)

    def classic_transforms(self) -> tuple[list, list]:
        """(PIL transforms after the crop and flip, tensor transforms after normalization), from torchvision."""
        import torchvision.transforms as T

        pil, tensor = [], []
        t = self.train
        if "timm_augment" in t:  # timm's own PIL transform from the same string (timm applies it first)
            from timm.data.auto_augment import auto_augment_transform, rand_augment_transform

            ta = t["timm_augment"]
            hparams = {"translate_const": int(224 * 0.45), "img_mean": ta.fill}
            if ta.interpolation != "random":
                hparams["interpolation"] = _pil_filter(ta.interpolation)
            build = rand_augment_transform if ta.spec.startswith("rand") else auto_augment_transform
            pil.append(zero_bit_posterize_as_black(build(ta.spec, hparams)))
        if "color_jitter" in t:
            cj = t["color_jitter"]
            jitter = T.ColorJitter(cj.brightness, cj.contrast, cj.saturation, cj.hue)
            pil.append(jitter if cj.p == 1 else T.RandomApply([jitter], p=cj.p))
        if "auto_augment" in t:
            aa = t["auto_augment"]
            pil.append({"autoaugment": lambda: T.AutoAugment(T.AutoAugmentPolicy.IMAGENET),
                        "randaugment": lambda: T.RandAugment(aa.num_ops, aa.magnitude, aa.num_magnitude_bins),
                        "trivialaugment": lambda: T.TrivialAugmentWide(aa.num_magnitude_bins)}[aa.policy]())
        if "grayscale" in t:
            pil.append(T.RandomGrayscale(t["grayscale"].p))
        if "blur" in t:
            blur = t["blur"]
            pil.append(T.RandomApply([T.GaussianBlur(blur.kernel_size, blur.sigma)], p=blur.p))
        if "random_erasing" in t:
            re = t["random_erasing"]
            tensor.append(T.RandomErasing(re.p, re.scale, re.ratio, value=re.value))
        return pil, tensor

    def classic_mixer(self, num_classes: int):
        """torchvision's references' batch mix (v2.MixUp or v2.CutMix, one chosen per batch), or None."""
        if self.mix is None:
            return None
        from torchvision.transforms import v2

        return v2.RandomChoice([v2.MixUp(alpha=self.mix["mixup_alpha"], num_classes=num_classes),
                                v2.CutMix(alpha=self.mix["cutmix_alpha"], num_classes=num_classes)])


def zero_bit_posterize_as_black(transform):
    """timm's RandAugment / AutoAugment (or a Compose holding one) with its posterize ops giving
    black at 0 bits, as PIL < 12 did: timm's increasing posterize reaches 0 bits at magnitude 10
    (`mstd` draws get there), which Pillow >= 12 refuses, so timm's own transform raises mid-epoch.
    dali-pipes' TimmAugment does the same (kernels.policy); the contenders get it here."""
    for step in getattr(transform, "transforms", [transform]):
        ops = getattr(step, "ops", None) or [op for sub in getattr(step, "policy", []) for op in sub]
        for op in ops:
            if op.name.startswith("Posterize"):
                op.aug_fn = _posterize_or_black
    return transform


def _posterize_or_black(img, bits, **_):
    from PIL import ImageOps

    if bits >= 8:
        return img
    return ImageOps.posterize(img, bits) if bits >= 1 else img.point([0] * 256 * len(img.getbands()))


def _pil_filter(name: str):
    from PIL import Image

    return {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "nearest": Image.Resampling.NEAREST}[name]


# timm's loader turns the jitter off under a policy, and train.py's default erasing mode is "pixel"
_TIMM_ERASING = {"re_prob": 0.25, "re_mode": "pixel"}
_TIMM_RE_DIFFERS = ("timm's RandomErasing draws its box as torchvision's does, but fills it in the normalized "
                    "image with its own generator; the same distribution")

RECIPES = {r.name: r for r in (
    Recipe("crop-flip", "RandomResizedCrop(224) + flip: the bare recipe", timm={"color_jitter": None}),
    Recipe("randaugment", "+ ColorJitter(0.4, 0.4, 0.4) + RandAugment(2, 9) + RandomErasing(0.25)",
           train={"color_jitter": ColorJitter(0.4, 0.4, 0.4), "auto_augment": AutoAugment("randaugment", 2, 9),
                  "random_erasing": RandomErasing(0.25)},
           timm={"color_jitter": 0.4, "auto_augment": "rand-m9-n2", "re_prob": 0.25, "re_mode": "const"},
           differs={"timm": "timm turns the colour jitter off under an auto-augment policy, and rand-m9-n2 is "
                            "timm's RandAugment (its own ops, each applied with p=0.5, magnitude 9 of 10)"}),
    Recipe("simclr", "+ ColorJitter(0.4, 0.4, 0.2, 0.1) p=0.8 + RandomGrayscale(0.2) + GaussianBlur(23) p=0.5",
           train={"color_jitter": ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8), "grayscale": RandomGrayscale(0.2),
                  "blur": GaussianBlur(23, p=0.5)},
           timm={"color_jitter": (0.4, 0.4, 0.2, 0.1), "color_jitter_prob": 0.8, "grayscale_prob": 0.2,
                 "gaussian_blur_prob": 0.5}),
    Recipe("ta-wide", "+ TrivialAugmentWide + RandomErasing(0.1): torchvision's classification reference",
           train={"auto_augment": AutoAugment("trivialaugment"), "random_erasing": RandomErasing(0.1)},
           timm=None, differs={"timm": "timm has no TrivialAugment policy"}),
    Recipe("ta-wide-mix", "+ TrivialAugmentWide + RandomErasing(0.1) + MixUp(0.2) / CutMix(1.0): torchvision's "
                          "reference for its newest ImageNet weights",
           train={"auto_augment": AutoAugment("trivialaugment"), "random_erasing": RandomErasing(0.1)},
           mix={"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "switch_prob": 0.5, "label_smoothing": 0.0},
           timm=None, differs={"timm": "timm has no TrivialAugment policy"}),
    Recipe("timm-default", "+ ColorJitter(0.4) + RandomErasing(0.25, pixel): timm train.py's default augmentation",
           train={"color_jitter": ColorJitter(0.4, 0.4, 0.4), "random_erasing": RandomErasing(0.25, value="random")},
           timm={"color_jitter": 0.4, **_TIMM_ERASING}, differs={"timm": _TIMM_RE_DIFFERS}),
    Recipe("rsb-a2", "+ timm's rand-m7-mstd0.5-inc1 + MixUp(0.1) / CutMix(1.0): ResNet strikes back A2",
           train={"timm_augment": TimmAugment("rand-m7-mstd0.5-inc1", interpolation="bilinear")},
           mix={"mixup_alpha": 0.1, "cutmix_alpha": 1.0, "switch_prob": 0.5, "label_smoothing": 0.0},
           timm={"auto_augment": "rand-m7-mstd0.5-inc1"}),
    Recipe("deit", "+ timm's rand-m9-mstd0.5-inc1 + RandomErasing(0.25, pixel): DeiT's augmentation "
                   "(its repeated augmentation is a sampler, not timed here)",
           train={"timm_augment": TimmAugment("rand-m9-mstd0.5-inc1", interpolation="bilinear"),
                  "random_erasing": RandomErasing(0.25, value="random")},
           timm={"auto_augment": "rand-m9-mstd0.5-inc1", **_TIMM_ERASING}, differs={"timm": _TIMM_RE_DIFFERS}),
)}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
