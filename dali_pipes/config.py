"""The preprocessing configuration: frozen dataclasses, validated when built, and the presets.

This is the single source of truth. The DALI graph (`dali_pipes.dali.graph`) and the torchvision
pipeline (`dali_pipes.tv.transforms`) each translate a `Preprocess`; neither adds a knob of its own.
Every check lives in `__post_init__` so a bad value fails where it is written, naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Exact per-channel statistics of the CIFAR training sets (all pixels, population std).
CIFAR10_MEAN = (0.49139968, 0.48215841, 0.44653091)
CIFAR10_STD = (0.24703223, 0.24348513, 0.26158784)
CIFAR100_MEAN = (0.50707516, 0.48654887, 0.44091784)
CIFAR100_STD = (0.26733429, 0.25643846, 0.27615047)

GEOMETRIES = ("random_resized_crop", "pad_crop")

DTYPES = ("float32", "float16", "bfloat16")


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and what is allowed."""


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: {message}")


def _pair(value, where: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a pair of numbers (low, high), got {value!r}") from None
    _require(lo <= hi, where, f"low must not exceed high, got ({lo}, {hi})")
    return lo, hi


def _triple(value, where: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected 3 numbers (one per RGB channel), got {value!r}") from None
    _require(len(out) == 3, where, f"expected 3 numbers (one per RGB channel), got {len(out)}")
    return out


def _positive_int(value, where: str) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
             where, f"expected a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Normalize:
    """Per-channel `(x / 255 - mean) / std`, then the output dtype and memory layout.

    `mean=None, std=None` (see `Normalize.per_dataset()`) standardizes with the dataset's own exact
    statistics, computed (and cached) when the loader is built. `channels_last=True` keeps the
    logical shape (B, 3, H, W) with NHWC memory, as `torch.channels_last` does.
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dtype: str = "float32"
    channels_last: bool = False

    def __post_init__(self):
        _require((self.mean is None) == (self.std is None), "Normalize.mean",
                 "mean and std are both None (per-dataset statistics) or both given")
        if self.mean is not None:
            object.__setattr__(self, "mean", _triple(self.mean, "Normalize.mean"))
            object.__setattr__(self, "std", _triple(self.std, "Normalize.std"))
            _require(all(s > 0 for s in self.std), "Normalize.std", f"every value must be > 0, got {self.std}")
        _require(self.dtype in DTYPES, "Normalize.dtype", f"must be one of {DTYPES}, got {self.dtype!r}")
        _require(isinstance(self.channels_last, bool), "Normalize.channels_last",
                 f"must be True or False, got {self.channels_last!r}")

    @classmethod
    def per_dataset(cls, dtype: str = "float32", channels_last: bool = False) -> "Normalize":
        """Zero mean, unit variance with the dataset's own statistics (for training from scratch)."""
        return cls(mean=None, std=None, dtype=dtype, channels_last=channels_last)

    @property
    def is_per_dataset(self) -> bool:
        return self.mean is None


AUTO_AUGMENT_POLICIES = ("autoaugment", "randaugment", "trivialaugment")


@dataclass(frozen=True)
class ColorJitter:
    """torchvision's ColorJitter: factors drawn per sample from [max(0, 1 - b), 1 + b] (brightness,
    contrast, saturation), a hue shift from [-h, h] (fraction of the colour wheel, h <= 0.5), all
    applied to a sample with probability `p`."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.0
    p: float = 1.0

    def __post_init__(self):
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            _require(isinstance(value, (int, float)) and value >= 0, f"ColorJitter.{name}",
                     f"must be a number >= 0, got {value!r}")
        _require(isinstance(self.hue, (int, float)) and 0 <= self.hue <= 0.5, "ColorJitter.hue",
                 f"must lie in [0, 0.5], got {self.hue!r}")
        _require(0 <= self.p <= 1, "ColorJitter.p", f"is a probability in [0, 1], got {self.p!r}")

    def factor_range(self, name: str) -> tuple[float, float]:
        value = float(getattr(self, name))
        return max(0.0, 1.0 - value), 1.0 + value


@dataclass(frozen=True)
class AutoAugment:
    """A learned or random augmentation policy by name: AutoAugment (ImageNet policy),
    RandAugment(num_ops, magnitude), TrivialAugmentWide."""

    policy: str = "autoaugment"
    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31

    def __post_init__(self):
        _require(self.policy in AUTO_AUGMENT_POLICIES, "AutoAugment.policy",
                 f"must be one of {AUTO_AUGMENT_POLICIES}, got {self.policy!r}")
        _positive_int(self.num_ops, "AutoAugment.num_ops")
        _positive_int(self.num_magnitude_bins, "AutoAugment.num_magnitude_bins")
        _require(isinstance(self.magnitude, int) and 0 <= self.magnitude < self.num_magnitude_bins,
                 "AutoAugment.magnitude",
                 f"must be an integer in [0, {self.num_magnitude_bins}), got {self.magnitude!r}")


@dataclass(frozen=True)
class RandomGrayscale:
    """torchvision's RandomGrayscale: with probability `p`, the sample becomes its luma
    floor(0.2989 R + 0.587 G + 0.114 B) on all 3 channels (torchvision's weights and rounding)."""

    p: float = 0.1

    def __post_init__(self):
        _require(isinstance(self.p, (int, float)) and 0 <= self.p <= 1, "RandomGrayscale.p",
                 f"is a probability in [0, 1], got {self.p!r}")


@dataclass(frozen=True)
class GaussianBlur:
    """torchvision's GaussianBlur(kernel_size, sigma), applied with probability `p` (torchvision's
    RandomApply; SimCLR uses p=0.5, BYOL 1.0 and 0.1): sigma drawn uniformly from `sigma` per sample,
    the same for both axes; `kernel_size` odd, an int or (width, height); reflected borders."""

    kernel_size: int | tuple[int, int] = 23
    sigma: float | tuple[float, float] = (0.1, 2.0)
    p: float = 1.0

    def __post_init__(self):
        sizes = (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        _require(len(sizes) == 2 and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 and k % 2 == 1
                                         for k in sizes), "GaussianBlur.kernel_size",
                 f"expected an odd positive integer or a pair of them (width, height), got {self.kernel_size!r}")
        sigma = (self.sigma, self.sigma) if isinstance(self.sigma, (int, float)) else self.sigma
        sigma = _pair(sigma, "GaussianBlur.sigma")
        _require(sigma[0] > 0, "GaussianBlur.sigma", f"must be > 0, got {sigma}")
        _require(isinstance(self.p, (int, float)) and 0 <= self.p <= 1, "GaussianBlur.p",
                 f"is a probability in [0, 1], got {self.p!r}")
        object.__setattr__(self, "kernel_size", sizes)
        object.__setattr__(self, "sigma", sigma)


@dataclass(frozen=True)
class RandomErasing:
    """torchvision/timm RandomErasing on the normalized batch: with probability `p`, one box of area
    fraction in `scale` and aspect ratio in `ratio` (log-uniform), 10 attempts, filled with `value`
    (a number in normalized units, or "random" for per-pixel normal noise as timm's mode="pixel")."""

    p: float = 0.25
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float | str = 0.0

    def __post_init__(self):
        _require(0 <= self.p <= 1, "RandomErasing.p", f"is a probability in [0, 1], got {self.p!r}")
        scale = _pair(self.scale, "RandomErasing.scale")
        _require(0 < scale[0] and scale[1] <= 1, "RandomErasing.scale", f"must lie in (0, 1], got {scale}")
        ratio = _pair(self.ratio, "RandomErasing.ratio")
        _require(ratio[0] > 0, "RandomErasing.ratio", f"must be > 0, got {ratio}")
        _require(self.value == "random" or isinstance(self.value, (int, float)), "RandomErasing.value",
                 f"must be a number or 'random', got {self.value!r}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "ratio", ratio)


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
CROP_MODES = ("center", "squash", "border")


def _check_interpolation(value, where: str) -> None:
    _require(value in INTERPOLATIONS, where, f"must be one of {INTERPOLATIONS}, got {value!r} (resizing is "
             "antialiased when it downscales, as torchvision's antialias=True and PIL)")


@dataclass(frozen=True)
class TrainTransform:
    """A random crop to `size` x `size`, then a horizontal flip with probability `hflip`.

    `geometry="random_resized_crop"`: torchvision's RandomResizedCrop(size, scale, ratio).
    `geometry="pad_crop"` (small images such as CIFAR): zero-pad each side by `padding`, take a
    random crop of the image's own size, and resize it to `size` only if the image is not already
    `size` x `size` (so CIFAR stays 32 x 32 unless a larger `size` is asked for).

    Then, each optional: `color_jitter`, `auto_augment`, `grayscale`, `blur` (on the uint8 image, in
    that order: timm's order for grayscale and blur), and `random_erasing` (on the normalized batch).

    `exact_edges=True` makes DALI resample the crop window's border exactly as torchvision does
    (filter weights renormalized over the window instead of replicating its edge pixel): the outer
    2 pixels then match too, at about 3x the resize cost on the CPU (see docs/parity.md).
    """

    size: int = 224
    geometry: str = "random_resized_crop"
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    padding: int = 4
    hflip: float = 0.5
    color_jitter: ColorJitter | None = None
    auto_augment: AutoAugment | None = None
    random_erasing: RandomErasing | None = None
    grayscale: RandomGrayscale | None = None
    blur: GaussianBlur | None = None
    exact_edges: bool = False
    interpolation: str = "bilinear"

    def __post_init__(self):
        _check_interpolation(self.interpolation, "TrainTransform.interpolation")
        for name, kind in (("color_jitter", ColorJitter), ("auto_augment", AutoAugment),
                           ("random_erasing", RandomErasing), ("grayscale", RandomGrayscale),
                           ("blur", GaussianBlur)):
            value = getattr(self, name)
            _require(value is None or isinstance(value, kind), f"TrainTransform.{name}",
                     f"expected a {kind.__name__} or None, got {type(value).__name__}")
        _positive_int(self.size, "TrainTransform.size")
        _require(self.geometry in GEOMETRIES, "TrainTransform.geometry",
                 f"must be one of {GEOMETRIES}, got {self.geometry!r}")
        _require(isinstance(self.exact_edges, bool), "TrainTransform.exact_edges",
                 f"must be True or False, got {self.exact_edges!r}")
        _require(isinstance(self.padding, int) and not isinstance(self.padding, bool) and self.padding >= 0,
                 "TrainTransform.padding", f"expected an integer >= 0, got {self.padding!r}")
        scale = _pair(self.scale, "TrainTransform.scale")
        _require(0 < scale[0] and scale[1] <= 1, "TrainTransform.scale",
                 f"must lie in (0, 1], got {scale}")
        ratio = _pair(self.ratio, "TrainTransform.ratio")
        _require(ratio[0] > 0, "TrainTransform.ratio", f"must be > 0, got {ratio}")
        _require(0.0 <= float(self.hflip) <= 1.0, "TrainTransform.hflip",
                 f"is a probability in [0, 1], got {self.hflip!r}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "hflip", float(self.hflip))
        if self.blur is not None:  # reflected borders need the kernel's half inside the image
            _require(max(self.blur.kernel_size) // 2 < self.size, "TrainTransform.blur",
                     f"kernel_size {self.blur.kernel_size} needs an image larger than half of it; size is {self.size}")


@dataclass(frozen=True)
class EvalTransform:
    """Resize, then center-crop `size` x `size` (deterministic), with `interpolation`.

    `crop_mode` (timm's): "center" resizes the shorter side to `resize_size` (torchvision's
    Resize(resize_size) + CenterCrop(size)); "squash" resizes both sides to `resize_size`, aspect
    not kept, then crops; "border" resizes the longer side to `resize_size`, then crops, padding
    where the image falls short with the normalization mean (so padding normalizes to 0).
    """

    size: int = 224
    resize_size: int = 256
    interpolation: str = "bilinear"
    crop_mode: str = "center"

    def __post_init__(self):
        _positive_int(self.size, "EvalTransform.size")
        _positive_int(self.resize_size, "EvalTransform.resize_size")
        _check_interpolation(self.interpolation, "EvalTransform.interpolation")
        _require(self.crop_mode in CROP_MODES, "EvalTransform.crop_mode",
                 f"must be one of {CROP_MODES}, got {self.crop_mode!r}")
        if self.crop_mode != "border":  # "border" pads instead
            _require(self.resize_size >= self.size, "EvalTransform.resize_size",
                     f"must be >= size ({self.size}) so the center crop fits, got {self.resize_size}")

    @classmethod
    def from_crop_ratio(cls, size: int = 224, crop_ratio: float = 0.875, **options) -> "EvalTransform":
        """timm's `crop_pct`: resize to floor(size / crop_ratio); `options`: interpolation, crop_mode."""
        _require(0 < crop_ratio <= 1, "EvalTransform.crop_ratio", f"must lie in (0, 1], got {crop_ratio!r}")
        return cls(size=size, resize_size=int(math.floor(size / crop_ratio + 1e-9)), **options)

    @property
    def crop_ratio(self) -> float:
        return self.size / self.resize_size


@dataclass(frozen=True)
class GpuDecoder:
    """The dali-gpu decoder's (nvImageCodec / nvJPEG, `mixed`) memory and hardware-decoder options.

    Defaults are NVIDIA's ResNet-50 training example's: buffers padded and preallocated for the
    largest ImageNet image, so the decoder does not reallocate while an epoch runs; the share of
    images sent to the hardware JPEG decoder (A100, H100, H200) is DALI's default. Not used on the CPU.
    """

    device_memory_padding: int = 211025920
    host_memory_padding: int = 140544512
    preallocate_width_hint: int = 5980
    preallocate_height_hint: int = 6430
    hw_decoder_load: float = 0.65

    def __post_init__(self):
        for name in ("device_memory_padding", "host_memory_padding", "preallocate_width_hint",
                     "preallocate_height_hint"):
            value = getattr(self, name)
            _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"GpuDecoder.{name}",
                     f"expected an integer >= 0, got {value!r}")
        _require(isinstance(self.hw_decoder_load, (int, float)) and 0.0 <= self.hw_decoder_load <= 1.0,
                 "GpuDecoder.hw_decoder_load", f"is a share in [0, 1], got {self.hw_decoder_load!r}")

    def options(self) -> dict:
        return {"device_memory_padding": self.device_memory_padding, "host_memory_padding": self.host_memory_padding,
                "preallocate_width_hint": self.preallocate_width_hint,
                "preallocate_height_hint": self.preallocate_height_hint, "hw_decoder_load": float(self.hw_decoder_load)}


@dataclass(frozen=True)
class Preprocess:
    """Everything that turns an encoded image into a training or evaluation tensor."""

    train: TrainTransform = field(default_factory=TrainTransform)
    eval: EvalTransform = field(default_factory=EvalTransform)
    normalize: Normalize = field(default_factory=Normalize)

    def __post_init__(self):
        for name, kind in (("train", TrainTransform), ("eval", EvalTransform), ("normalize", Normalize)):
            _require(isinstance(getattr(self, name), kind), f"Preprocess.{name}",
                     f"expected a {kind.__name__}, got {type(getattr(self, name)).__name__}")

    def resized(self, size: int) -> "Preprocess":
        """The same recipe at another output size; eval keeps its crop ratio (e.g. CIFAR at 224)."""
        resize = int(math.floor(size / self.eval.crop_ratio + 1e-9))
        return replace(self, train=replace(self.train, size=size),
                       eval=replace(self.eval, size=size, resize_size=resize))

    def with_normalize(self, normalize: Normalize) -> "Preprocess":
        return replace(self, normalize=normalize)

    @classmethod
    def from_timm(cls, model_or_config, **train_args) -> "Preprocess":
        """A timm model's preprocessing: eval as `timm.data.create_transform(**resolve_data_config(...))`
        (input size, interpolation, crop_pct, crop_mode, mean, std); train from timm's training
        arguments (scale, ratio, hflip, color_jitter, color_jitter_prob, auto_augment such as
        "rand-m9-n2", re_prob, re_mode, train_interpolation), refusing those with no equivalent.
        `model_or_config`: a timm model, a pretrained tag ("resnet50.a1_in1k"), a pretrained cfg, or a
        resolved data config. Needs timm."""
        from .pretrained import from_timm

        return from_timm(model_or_config, **train_args)

    @classmethod
    def from_torchvision(cls, weights) -> "Preprocess":
        """The preprocessing of a torchvision weights enum, e.g. `ResNet50_Weights.IMAGENET1K_V2`
        (resize 232 bilinear, crop 224): its `transforms()`' sizes, interpolation, mean and std."""
        from .pretrained import from_torchvision

        return from_torchvision(weights)


def _cifar(mean, std) -> Preprocess:
    """32 x 32 training: pad 4 + random crop + flip; eval is normalization only."""
    return Preprocess(train=TrainTransform(size=32, geometry="pad_crop", padding=4),
                      eval=EvalTransform(size=32, resize_size=32), normalize=Normalize(mean, std))


PRESETS: dict[str, Preprocess] = {
    # The standard ImageNet recipe (torchvision's reference scripts, timm's defaults).
    "imagenet": Preprocess(),
    "cifar10": _cifar(CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": _cifar(CIFAR100_MEAN, CIFAR100_STD),
}


def resolve_preset(preset: str | Preprocess) -> Preprocess:
    """A preset name or a ready `Preprocess`; unknown names list the valid ones."""
    if isinstance(preset, Preprocess):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[preset]
