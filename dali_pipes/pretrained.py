"""A pretrained model's own preprocessing, read from timm's data config or a torchvision weights enum,
as the settings of a `Preprocess` (`Preprocess.from_timm` / `from_torchvision` build it): eval
reproduces the transform the weights were scored with; train maps timm's training arguments
(`timm.data.create_transform`'s names and defaults) where dali-pipes has an equivalent and refuses
the rest by name. Each augmentation maps its own timm arguments (dali_pipes.ops, `from_timm`).

timm and torchvision are only needed when these helpers are called.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .constants import INTERPOLATIONS, TRAIN_INTERPOLATIONS
from .errors import ConfigError
from .ops import CONFIGURED

# timm's training arguments with no dali-pipes equivalent, and why
UNSUPPORTED_TRAIN = {
    "mixup_alpha": "MixUp/CutMix act on batches: pass dali_pipes.MixUpCutMix(...) (timm's arguments) as mix=",
    "cutmix_alpha": "MixUp/CutMix act on batches: pass dali_pipes.MixUpCutMix(...) (timm's arguments) as mix=",
}
GEOMETRY_ARGS = ("scale", "ratio", "hflip", "vflip", "train_interpolation")
TRAIN_ARGS = GEOMETRY_ARGS + tuple(arg for op in CONFIGURED for arg in op.timm_args)


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


def timm_settings(model_or_config, train_args: dict) -> dict:
    """{"train", "eval", "normalize"}: the keyword arguments of TrainTransform, EvalTransform, Normalize."""
    config = timm_data_config(model_or_config)
    channels, height, width = config["input_size"]
    if height != width:
        raise ConfigError(f"from_timm: input size {height} x {width} is not square; dali-pipes crops squares")
    interpolation = config.get("interpolation", "bilinear")
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"from_timm: interpolation {interpolation!r} is not supported (bilinear, bicubic, nearest)")
    crop_pct = config.get("crop_pct") or 0.875
    train = _timm_train(height, interpolation, train_args)
    if train.get("timm_augment") is not None:  # timm's aa_params: the fill is the mean, the filter the train one's
        train["timm_augment"] = replace(train["timm_augment"], interpolation=train["interpolation"],
                                        fill=tuple(min(255, round(255 * m)) for m in config["mean"]))
    return {"train": train,
            "eval": {"size": height, "resize_size": math.floor(height / crop_pct), "interpolation": interpolation,
                     "crop_mode": config.get("crop_mode") or "center"},
            "normalize": {"mean": tuple(config["mean"]), "std": tuple(config["std"])}}


def _timm_train(size: int, interpolation: str, args: dict) -> dict:
    """timm's `transforms_imagenet_train` arguments (their defaults where not given)."""
    refused = {k: UNSUPPORTED_TRAIN[k] for k, v in args.items() if k in UNSUPPORTED_TRAIN and v}
    unknown = sorted(set(args) - set(TRAIN_ARGS) - set(UNSUPPORTED_TRAIN))
    if refused or unknown:
        why = "; ".join(f"{k}: {v}" for k, v in refused.items())
        raise ConfigError(f"from_timm: unsupported training arguments {sorted(refused) + unknown} "
                          f"({why or 'not timm training arguments'}); supported: {', '.join(TRAIN_ARGS)}")
    train_interpolation = args.get("train_interpolation", interpolation)
    if train_interpolation not in TRAIN_INTERPOLATIONS:  # 'random': bilinear or bicubic per sample, as timm
        raise ConfigError(f"from_timm: train_interpolation {train_interpolation!r} is not supported "
                          f"({', '.join(TRAIN_INTERPOLATIONS)})")
    settings = {"size": size, "scale": tuple(args.get("scale", (0.08, 1.0))),
                "ratio": tuple(args.get("ratio", (3 / 4, 4 / 3))), "hflip": args.get("hflip", 0.5),
                "vflip": args.get("vflip", 0.0),
                "interpolation": train_interpolation}
    settings.update({op.field: op.from_timm(args) for op in CONFIGURED})
    return settings


def torchvision_settings(weights) -> dict:
    """The eval preprocessing of a torchvision weights enum (`weights.transforms()`); train keeps
    dali-pipes' defaults at the same crop size."""
    _needs("torchvision.transforms", "from_torchvision")
    transform = weights.transforms() if hasattr(weights, "transforms") else None
    if transform is None or not hasattr(transform, "crop_size"):
        raise ConfigError(f"from_torchvision: {weights!r} is not a torchvision classification weights enum "
                          "(e.g. torchvision.models.ResNet50_Weights.IMAGENET1K_V2)")
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    interpolation = transform.interpolation.value  # "bilinear", "bicubic", "nearest"
    if interpolation not in INTERPOLATIONS or not transform.antialias:
        raise ConfigError(f"from_torchvision: {weights}: interpolation {interpolation!r} with "
                          f"antialias={transform.antialias} is not supported")
    return {"train": {"size": crop, "interpolation": interpolation},
            "eval": {"size": crop, "resize_size": resize, "interpolation": interpolation},
            "normalize": {"mean": tuple(transform.mean), "std": tuple(transform.std)}}
