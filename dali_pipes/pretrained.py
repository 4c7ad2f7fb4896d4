"""A pretrained model's own preprocessing, read from timm's data config or a torchvision weights
enum, as a `Preprocess`: eval reproduces the transform the weights were scored with; train maps
timm's usual training arguments where dali-pipes has an equivalent and refuses the rest by name.

timm and torchvision are only needed when these helpers are called.
"""

from __future__ import annotations

import math
import re

from .config import (
    AutoAugment,
    ColorJitter,
    ConfigError,
    EvalTransform,
    Normalize,
    Preprocess,
    RandomErasing,
    TrainTransform,
)

# timm's training arguments with no dali-pipes equivalent, and why
UNSUPPORTED_TRAIN = {
    "vflip": "vertical flips are not implemented",
    "re_count": "one erased box per image only",
    "re_split": "no split erasing",
    "mixup_alpha": "MixUp/CutMix act on batches: pass dali_pipes.MixUpCutMix(...) (timm's arguments) as mix=",
    "cutmix_alpha": "MixUp/CutMix act on batches: pass dali_pipes.MixUpCutMix(...) (timm's arguments) as mix=",
}
TRAIN_ARGS = ("scale", "ratio", "hflip", "color_jitter", "color_jitter_prob", "auto_augment", "re_prob",
              "re_mode", "train_interpolation")


def _needs(module: str, helper: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"Preprocess.{helper} needs the {module.split('.')[0]} package: "
                          f"pip install 'dali-pipes[pretrained]' (or pip install {module.split('.')[0]})") from None


def timm_data_config(model_or_config) -> dict:
    """timm's resolved data config (input_size, interpolation, mean, std, crop_pct, crop_mode) of a
    model, a model or pretrained-tag name ("resnet50.a1_in1k"), a pretrained cfg, or the dict that
    `timm.data.resolve_data_config` already returned."""
    data = _needs("timm.data", "from_timm")
    if isinstance(model_or_config, dict) and "input_size" in model_or_config and "crop_pct" in model_or_config:
        return dict(model_or_config)
    if isinstance(model_or_config, str):
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(model_or_config)
        if cfg is None:
            raise ConfigError(f"from_timm: timm knows no pretrained config named {model_or_config!r}")
        return data.resolve_data_config(pretrained_cfg=cfg.to_dict())
    if hasattr(model_or_config, "to_dict"):  # a timm PretrainedCfg
        return data.resolve_data_config(pretrained_cfg=model_or_config.to_dict())
    if isinstance(model_or_config, dict):
        return data.resolve_data_config(pretrained_cfg=model_or_config)
    return data.resolve_data_config({}, model=model_or_config)


def from_timm(model_or_config, **train_args) -> Preprocess:
    config = timm_data_config(model_or_config)
    channels, height, width = config["input_size"]
    if height != width:
        raise ConfigError(f"from_timm: input size {height} x {width} is not square; dali-pipes crops squares")
    interpolation = config.get("interpolation", "bilinear")
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        raise ConfigError(f"from_timm: interpolation {interpolation!r} is not supported (bilinear, bicubic, nearest)")
    crop_pct = config.get("crop_pct") or 0.875
    eval_cfg = EvalTransform(size=height, resize_size=math.floor(height / crop_pct), interpolation=interpolation,
                             crop_mode=config.get("crop_mode") or "center")
    normalize = Normalize(mean=tuple(config["mean"]), std=tuple(config["std"]))
    return Preprocess(train=_timm_train(height, interpolation, train_args), eval=eval_cfg, normalize=normalize)


def _timm_train(size: int, interpolation: str, args: dict) -> TrainTransform:
    """timm's `transforms_imagenet_train` arguments (their defaults where not given)."""
    refused = {k: UNSUPPORTED_TRAIN[k] for k, v in args.items() if k in UNSUPPORTED_TRAIN and v}
    unknown = sorted(set(args) - set(TRAIN_ARGS) - set(UNSUPPORTED_TRAIN))
    if refused or unknown:
        why = "; ".join(f"{k}: {v}" for k, v in refused.items())
        raise ConfigError(f"from_timm: unsupported training arguments {sorted(refused) + unknown} "
                          f"({why or 'not timm training arguments'}); supported: {', '.join(TRAIN_ARGS)}")
    train_interpolation = args.get("train_interpolation", interpolation)
    if train_interpolation not in ("bilinear", "bicubic", "nearest"):
        raise ConfigError(f"from_timm: train_interpolation {train_interpolation!r} is not supported "
                          "(timm's 'random' picks one per sample; dali-pipes uses one)")
    policy = _auto_augment(args.get("auto_augment"))
    jitter = args.get("color_jitter", 0.4)
    color_jitter = None
    if jitter and policy is None:  # timm: an auto-augment policy replaces colour jitter
        values = (jitter,) * 3 if isinstance(jitter, (int, float)) else tuple(jitter)
        color_jitter = ColorJitter(*values, p=args.get("color_jitter_prob") or 1.0)
    erasing = None
    if args.get("re_prob"):
        mode = args.get("re_mode", "pixel")
        if mode not in ("pixel", "const"):
            raise ConfigError(f"from_timm: re_mode {mode!r} is not supported ('pixel', 'const')")
        erasing = RandomErasing(p=args["re_prob"], value="random" if mode == "pixel" else 0.0)
    return TrainTransform(size=size, scale=tuple(args.get("scale", (0.08, 1.0))),
                          ratio=tuple(args.get("ratio", (3 / 4, 4 / 3))), hflip=args.get("hflip", 0.5),
                          color_jitter=color_jitter, auto_augment=policy, random_erasing=erasing,
                          interpolation=train_interpolation)


def _auto_augment(spec: str | None) -> AutoAugment | None:
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


def from_torchvision(weights) -> Preprocess:
    """The eval preprocessing of a torchvision weights enum (`weights.transforms()`); train keeps
    dali-pipes' defaults at the same crop size."""
    _needs("torchvision.transforms", "from_torchvision")
    transform = weights.transforms() if hasattr(weights, "transforms") else None
    if transform is None or not hasattr(transform, "crop_size"):
        raise ConfigError(f"from_torchvision: {weights!r} is not a torchvision classification weights enum "
                          "(e.g. torchvision.models.ResNet50_Weights.IMAGENET1K_V2)")
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    interpolation = transform.interpolation.value  # "bilinear", "bicubic", "nearest"
    if interpolation not in ("bilinear", "bicubic", "nearest") or not transform.antialias:
        raise ConfigError(f"from_torchvision: {weights}: interpolation {interpolation!r} with "
                          f"antialias={transform.antialias} is not supported")
    return Preprocess(train=TrainTransform(size=crop, interpolation=interpolation),
                      eval=EvalTransform(size=crop, resize_size=resize, interpolation=interpolation),
                      normalize=Normalize(mean=tuple(transform.mean), std=tuple(transform.std)))
