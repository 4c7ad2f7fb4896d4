"""`from_torchvision`: a torchvision transform (v1 or v2 `Compose`) read into the one config, so a
user's own `transforms.Compose([...])` runs on the engines unchanged.

Each op the engines implement is translated with its arguments (sizes, scale/ratio, interpolation,
p, padding, the policies and their magnitudes, erasing's value, Normalize); the conversions
(ToTensor, PILToTensor, ToImage + ToDtype, ConvertImageDtype) set the output's scale and dtype. What
has no translation, or asks for an option the engines lack, raises `UntranslatableTransform` naming
the op and the argument; so does an order the engines cannot keep (they apply crop, flips, colour
jitter, policy, grayscale, blur, normalize, erasing, in that order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .config import EvalTransform, Normalize, Preprocess, TrainTransform
from .errors import ConfigError
from .ops.auto_augment import AutoAugment
from .ops.blur import GaussianBlur
from .ops.color_jitter import ColorJitter
from .ops.erasing import RandomErasing
from .ops.grayscale import RandomGrayscale
from .ops.timm_augment import from_transform

# the engines' order of the ops (their rank); conversions have none
_ORDER = ("geometry", "flip", "color_jitter", "auto_augment", "grayscale", "blur", "normalize", "random_erasing")
_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


class UntranslatableTransform(ConfigError):
    """A torchvision op (or one of its arguments, or their order) that the engines do not implement."""

    def __init__(self, op, reason: str):
        self.op = op
        super().__init__(f"{_name(op)}: {reason}")


@dataclass(frozen=True)
class Translation:
    """What a torchvision transform becomes: the `preprocess` and whether it is a training transform
    (random crop and augmentations) or an evaluation one (resize + center crop); `steps` says what
    each of the user's ops became."""

    preprocess: Preprocess
    train: bool
    steps: tuple[tuple[str, str], ...] = field(default=())

    def __str__(self) -> str:
        mode = "train" if self.train else "eval"
        return "\n".join([f"{mode}: {self.preprocess}"] + [f"  {op} -> {what}" for op, what in self.steps])


def from_torchvision(transform, image_size: int | None = None) -> Translation:
    """The engines' config for `transform` (a torchvision v1 or v2 Compose, nn.Sequential or op).
    `image_size`: the side of the dataset's images where they are all one square size (CIFAR's 32);
    a transform without a crop (CIFAR's evaluation ToTensor + Normalize, or flips only) then keeps it."""
    state = _State()
    for op in _flatten(transform):
        state.add(op)
    return state.finish(image_size)


def _flatten(transform) -> list:
    inner = getattr(transform, "transforms", None)
    if _name(transform) == "Compose" or (isinstance(transform, torch.nn.Sequential) and inner is None):
        return [op for t in (inner if inner is not None else list(transform)) for op in _flatten(t)]
    if _name(inner) == "Compose" and not type(transform).__module__.startswith("torchvision"):
        # a preset class that holds its ops in `.transforms` and calls them (torchvision's references)
        return _flatten(inner)
    return [transform]


def _name(op) -> str:
    return type(op).__name__


def _mode(interpolation) -> str:
    return str(getattr(interpolation, "value", interpolation))


def _square(op, size) -> int:
    sizes = [size] if isinstance(size, int) else list(size)
    if len(sizes) == 2 and sizes[0] == sizes[1]:
        sizes = sizes[:1]
    if len(sizes) != 1 or not isinstance(sizes[0], int):
        raise UntranslatableTransform(op, f"size={size!r}: the engines make square outputs (one int, or (s, s))")
    return sizes[0]


def _symmetric(op, name: str, bounds, centre: float) -> float:
    """torchvision's (lo, hi) factor range -> the one number ColorJitter takes (its [max(0, 1 - b), 1 + b])."""
    if bounds is None:
        return 0.0
    lo, hi = (float(v) for v in bounds)
    b = round(hi - centre, 12)  # 1.4 - 1 is 0.3999999999999999
    if abs(lo - (max(0.0, centre - b) if centre else -b)) > 1e-6:
        raise UntranslatableTransform(op, f"{name}={tuple(bounds)}: only the symmetric range a single number gives")
    return b


def _check_policy(op) -> None:
    if _mode(op.interpolation) not in ("nearest", "bilinear") or op.fill not in (None, 0, [0], (0,)):
        raise UntranslatableTransform(op, f"interpolation={_mode(op.interpolation)!r}, fill={op.fill!r}: the "
                                          "policies run with nearest or bilinear filters and fill 0")


class _State:
    def __init__(self):
        self.train: dict = {}
        self.eval: dict = {}
        self.normalize: dict = {}
        self.scale = None  # 1/255 after ToTensor / ToDtype(scale=True); 1 after ToDtype(float, scale=False)
        self.rank = -1
        self.steps: list[tuple[str, str]] = []

    def place(self, op, stage: str, what: str) -> None:
        rank = _ORDER.index(stage)
        if rank < self.rank or (rank == self.rank and stage not in ("flip",)):
            raise UntranslatableTransform(op, f"comes after {_ORDER[self.rank]}; the engines apply "
                                              f"{', '.join(_ORDER)} in that order, each once")
        self.rank = rank
        self.steps.append((repr(op).replace("\n", " "), what))

    def add(self, op, p: float = 1.0) -> None:  # noqa: C901 (one branch per torchvision op)
        name = _name(op)
        if name == "RandomApply":
            if len(op.transforms) != 1 or _name(op.transforms[0]) not in ("ColorJitter", "GaussianBlur"):
                raise UntranslatableTransform(op, "RandomApply is translated around one ColorJitter or GaussianBlur")
            return self.add(op.transforms[0], float(op.p))
        if type(op).__module__.startswith("timm."):
            return self._timm(op)
        if name == "RandomResizedCrop":
            if not op.antialias:
                raise UntranslatableTransform(op, "antialias=False: the engines resize with antialiasing")
            self.train.update(size=_square(op, op.size), geometry="random_resized_crop", scale=tuple(op.scale),
                              ratio=tuple(op.ratio), interpolation=_mode(op.interpolation))
            return self.place(op, "geometry", "TrainTransform(geometry='random_resized_crop')")
        if name == "RandomCrop":
            pad = op.padding if isinstance(op.padding, int) else set(op.padding or [0])
            if isinstance(pad, set) and len(pad) != 1:
                raise UntranslatableTransform(op, f"padding={op.padding!r}: one padding for all four sides")
            if op.fill != 0 or op.padding_mode != "constant" or op.pad_if_needed:
                raise UntranslatableTransform(op, "zero padding (fill=0, padding_mode='constant') only")
            self.train.update(size=_square(op, op.size), geometry="pad_crop",
                              padding=pad if isinstance(pad, int) else pad.pop())
            return self.place(op, "geometry", "TrainTransform(geometry='pad_crop'): crops of the image's own size")
        if name in ("RandomHorizontalFlip", "RandomVerticalFlip"):
            self.train["hflip" if name == "RandomHorizontalFlip" else "vflip"] = float(op.p)
            return self.place(op, "flip", f"TrainTransform.{'hflip' if 'Horizontal' in name else 'vflip'}")
        if name == "ColorJitter":
            self.train["color_jitter"] = ColorJitter(
                _symmetric(op, "brightness", op.brightness, 1.0), _symmetric(op, "contrast", op.contrast, 1.0),
                _symmetric(op, "saturation", op.saturation, 1.0), _symmetric(op, "hue", op.hue, 0.0), p=p)
            return self.place(op, "color_jitter", repr(self.train["color_jitter"]))
        if name in ("AutoAugment", "RandAugment", "TrivialAugmentWide"):
            _check_policy(op)
            if name == "AutoAugment" and _mode(op.policy) != "imagenet":
                raise UntranslatableTransform(op, f"policy={op.policy}: the ImageNet policy only")
            mode = _mode(op.interpolation)
            self.train["auto_augment"] = (
                AutoAugment("autoaugment", interpolation=mode) if name == "AutoAugment" else
                AutoAugment("randaugment", op.num_ops, op.magnitude, op.num_magnitude_bins, interpolation=mode)
                if name == "RandAugment" else
                AutoAugment("trivialaugment", num_magnitude_bins=op.num_magnitude_bins, interpolation=mode))
            return self.place(op, "auto_augment", repr(self.train["auto_augment"]))
        if name == "RandomGrayscale":
            self.train["grayscale"] = RandomGrayscale(float(op.p))
            return self.place(op, "grayscale", repr(self.train["grayscale"]))
        if name == "GaussianBlur":
            self.train["blur"] = GaussianBlur(tuple(op.kernel_size), tuple(float(s) for s in op.sigma), p=p)
            return self.place(op, "blur", repr(self.train["blur"]))
        if name == "RandomErasing":
            return self._erasing(op)
        if name == "Resize":
            return self._resize(op)
        if name == "CenterCrop":
            if "resize_size" not in self.eval or "size" in self.eval:
                raise UntranslatableTransform(op, "CenterCrop is translated after one Resize")
            self.eval["size"] = _square(op, op.size)
            self.steps.append((repr(op), "EvalTransform.size"))
            return None
        if name == "ImageClassification":  # a torchvision weights enum's transforms(): resize, crop, normalize
            return self._weights_preset(op)
        if name in ("ToTensor", "ConvertImageDtype", "ToDtype"):
            return self._to_float(op)
        if name in ("PILToTensor", "ToImage", "ToPureTensor", "RGB"):
            self.steps.append((name, "(the engines' own conversion)"))
            return None
        if name == "Normalize":
            if self.scale is None:
                raise UntranslatableTransform(op, "Normalize before a conversion to float (ToTensor / ToDtype)")
            unit = 1.0 if self.scale != 1 else 255.0  # torchvision normalizes values in [0, 1] or in 0..255
            self.normalize.update(mean=tuple(float(m) / unit for m in op.mean),
                                  std=tuple(float(s) / unit for s in op.std))
            return self.place(op, "normalize", "Normalize")
        raise UntranslatableTransform(op, "no translation to the engines' ops")

    def _timm(self, op) -> None:  # noqa: C901 (one branch per timm op)
        """timm's own transform classes (`timm.data.create_transform`'s)."""
        name = _name(op)
        if name == "RandomResizedCropAndInterpolation":
            modes = op.interpolation if isinstance(op.interpolation, (tuple, list)) else [op.interpolation]
            self.train.update(size=_square(op, op.size), geometry="random_resized_crop", scale=tuple(op.scale),
                              ratio=tuple(op.ratio),
                              interpolation="random" if len(modes) > 1 else _mode(modes[0]))
            return self.place(op, "geometry", "TrainTransform(geometry='random_resized_crop')")
        if name in ("RandAugment", "AutoAugment"):
            if self.rank >= _ORDER.index("color_jitter"):
                raise UntranslatableTransform(op, "timm's policy comes before the colour jitter on the engines")
            self.train["timm_augment"] = from_transform(op)
            self.steps.append((name, repr(self.train["timm_augment"])))
            return None
        if name == "MaybeToTensor":
            self.scale, self.normalize["dtype"] = 1 / 255, "float32"
            self.steps.append((name, "Normalize(dtype='float32')"))
            return None
        if name == "RandomErasing":
            return self._timm_erasing(op)
        raise UntranslatableTransform(op, "no translation to the engines' ops")

    def _timm_erasing(self, op) -> None:
        self._after_normalize(op)
        values = {"const": 0.0, "rand": "random_color", "pixel": "random"}
        if op.mode not in values or op.min_count != 1:
            raise UntranslatableTransform(op, f"mode={op.mode!r}, min_count={op.min_count}: modes {sorted(values)} "
                                              "and counts from 1")
        self.train["random_erasing"] = RandomErasing(
            float(op.probability), (float(op.min_area), float(op.max_area)),
            tuple(math.exp(v) for v in op.log_aspect_ratio), values[op.mode], int(op.max_count),
            int(op.num_splits))
        self.place(op, "random_erasing", repr(self.train["random_erasing"]))

    def _weights_preset(self, op) -> None:
        if self.eval or self.train or not op.antialias:
            raise UntranslatableTransform(op, "a weights preset is a whole evaluation transform (antialiased)")
        self.eval.update(resize_size=int(op.resize_size[0]), size=int(op.crop_size[0]),
                         interpolation=_mode(op.interpolation))
        self.scale, self.normalize = 1 / 255, {"mean": tuple(op.mean), "std": tuple(op.std), "dtype": "float32"}
        self.place(op, "normalize", "EvalTransform + Normalize (Preprocess.from_torchvision(weights) alike)")

    def _resize(self, op) -> None:
        if self.eval or self.train:
            raise UntranslatableTransform(op, "Resize is translated as the first op of an evaluation transform "
                                              "(Resize + CenterCrop)")
        if getattr(op, "max_size", None) is not None or not op.antialias:
            raise UntranslatableTransform(op, "max_size / antialias=False: not provided")
        sizes = [op.size] if isinstance(op.size, int) else list(op.size)
        if len(sizes) == 2 and sizes[0] != sizes[1]:
            raise UntranslatableTransform(op, f"size={op.size!r}: a shorter side, or (s, s)")
        self.eval.update(resize_size=int(sizes[0]), interpolation=_mode(op.interpolation),
                         crop_mode="center" if len(sizes) == 1 else "squash")
        self.place(op, "geometry", "EvalTransform.resize_size")

    def _to_float(self, op) -> None:
        dtype = getattr(op, "dtype", torch.float32)
        if isinstance(dtype, dict):  # v2's ToDtype({tv_tensors.Image: ..., "others": ...})
            dtype = next(iter(dtype.values()))
        if dtype not in _DTYPES:
            raise UntranslatableTransform(op, f"dtype={dtype}: the engines give {sorted(_DTYPES.values())}")
        self.scale = 1 / 255 if _name(op) != "ToDtype" or op.scale else 1.0
        self.normalize["dtype"] = _DTYPES[dtype]
        self.steps.append((_name(op), f"Normalize(dtype={_DTYPES[dtype]!r})"))

    def _after_normalize(self, op) -> None:
        if "mean" not in self.normalize:
            raise UntranslatableTransform(op, "RandomErasing before Normalize: the engines erase the normalized batch")

    def _erasing(self, op) -> None:
        self._after_normalize(op)
        value = op.value
        if isinstance(value, (list, tuple)) and len(set(value)) == 1:
            value = value[0]
        if not (isinstance(value, (int, float)) or value == "random"):
            raise UntranslatableTransform(op, f"value={op.value!r}: a number or 'random'")
        self.train["random_erasing"] = RandomErasing(float(op.p), tuple(op.scale), tuple(op.ratio),
                                                     value if value == "random" else float(value))
        self.place(op, "random_erasing", repr(self.train["random_erasing"]))

    def finish(self, image_size: int | None) -> Translation:
        if self.scale is None:
            raise ConfigError("the transform never converts to a float tensor (ToTensor, or ToImage + ToDtype(float32, "
                              "scale=True)): the engines give normalized float tensors")
        # no Normalize: torchvision's output is x * scale, which is Normalize(0, 1 / (255 scale)) here
        normalize = Normalize(**{"mean": (0.0,) * 3, "std": (1 / 255 / self.scale,) * 3, **self.normalize})
        if not self.eval and not self.train and image_size is not None:  # nothing moves pixels: as they are
            self.eval = {"size": image_size, "resize_size": image_size}
        if self.eval:
            if self.train:
                raise ConfigError(f"the transform mixes evaluation ops (Resize, CenterCrop) with training ops "
                                  f"({sorted(self.train)})")
            if "size" not in self.eval:
                raise ConfigError("Resize without CenterCrop: the engines give fixed-size batches")
            evaluation = EvalTransform(**self.eval)
            return Translation(Preprocess(train=TrainTransform(size=evaluation.size), eval=evaluation,
                                          normalize=normalize), False, tuple(self.steps))
        if "geometry" not in self.train and image_size is not None:  # flips and colour only: a crop of 0 padding
            self.train.update(size=image_size, geometry="pad_crop", padding=0)
        if "geometry" not in self.train:
            raise ConfigError("a training transform starts with RandomResizedCrop or RandomCrop (the engines' "
                              "random geometry); an evaluation one with Resize + CenterCrop")
        train = TrainTransform(**{"hflip": 0.0, **self.train})
        return Translation(Preprocess(train=train, eval=EvalTransform(size=train.size, resize_size=train.size),
                                      normalize=normalize), True, tuple(self.steps))
