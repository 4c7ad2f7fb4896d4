"""The preprocessing configuration: frozen dataclasses, validated when built, and the presets.

This is the single source of truth. The DALI graph (`dali_pipes.dali.graph`) and the torchvision
pipeline (`dali_pipes.tv.transforms`) each translate a `Preprocess`; neither adds a knob of its own.
Every check lives in `__post_init__` so a bad value fails where it is written, naming the field.
The augmentations' own dataclasses live with their ops (dali_pipes.ops); `TrainTransform` has one
optional, typed field per op of the registry, written out so that type checkers and IDEs see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from . import pretrained
from .checks import each_field, pair, positive_int, require, triple
from .constants import DTYPES, INTERPOLATIONS, TRAIN_INTERPOLATIONS
from .errors import ConfigError  # noqa: F401 - its home was here: `from dali_pipes.config import ConfigError` keeps working
from .ops import CONFIGURED
from .ops.auto_augment import AutoAugment
from .ops.blur import GaussianBlur
from .ops.color_jitter import ColorJitter
from .ops.erasing import RandomErasing
from .ops.grayscale import RandomGrayscale
from .ops.timm_augment import TimmAugment

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Exact per-channel statistics of the CIFAR training sets (all pixels, population std).
CIFAR10_MEAN = (0.49139968, 0.48215841, 0.44653091)
CIFAR10_STD = (0.24703223, 0.24348513, 0.26158784)
CIFAR100_MEAN = (0.50707516, 0.48654887, 0.44091784)
CIFAR100_STD = (0.26733429, 0.25643846, 0.27615047)

GEOMETRIES = ("random_resized_crop", "pad_crop")
CROP_MODES = ("center", "squash", "border")


def _check_interpolation(value, where: str, allowed=INTERPOLATIONS) -> None:
    require(value in allowed, where, f"must be one of {allowed}, got {value!r} (resizing is "
            "antialiased when it downscales, as torchvision's antialias=True and PIL)")


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
        require((self.mean is None) == (self.std is None), "Normalize.mean",
                 "mean and std are both None (per-dataset statistics) or both given")
        if self.mean is not None:
            object.__setattr__(self, "mean", triple(self.mean, "Normalize.mean"))
            object.__setattr__(self, "std", triple(self.std, "Normalize.std"))
            require(all(s > 0 for s in self.std), "Normalize.std", f"every value must be > 0, got {self.std}")
        require(self.dtype in DTYPES, "Normalize.dtype", f"must be one of {DTYPES}, got {self.dtype!r}")
        require(isinstance(self.channels_last, bool), "Normalize.channels_last",
                 f"must be True or False, got {self.channels_last!r}")

    @classmethod
    def per_dataset(cls, dtype: str = "float32", channels_last: bool = False) -> "Normalize":
        """Zero mean, unit variance with the dataset's own statistics (for training from scratch)."""
        return cls(mean=None, std=None, dtype=dtype, channels_last=channels_last)

    @property
    def is_per_dataset(self) -> bool:
        return self.mean is None


@dataclass(frozen=True)
class TrainTransform:
    """A random crop to `size` x `size`, then a horizontal flip with probability `hflip`.

    `geometry="random_resized_crop"`: torchvision's RandomResizedCrop(size, scale, ratio).
    `geometry="pad_crop"` (small images such as CIFAR): zero-pad each side by `padding`, take a
    random crop of the image's own size, and resize it to `size` only if the image is not already
    `size` x `size` (so CIFAR stays 32 x 32 unless a larger `size` is asked for).

    Then one optional field per augmentation of `dali_pipes.ops`, each None (off) or its config:
    `timm_augment` (timm's policies), `color_jitter`, `auto_augment` (torchvision's policies),
    `grayscale`, `blur` on the uint8 image, in that order (timm's order for grayscale and blur), and
    `random_erasing` on the normalized batch.

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
    # one optional field per configured op of the registry (dali_pipes.ops.CONFIGURED), in its order;
    # None is off (tests/test_config.py holds these fields equal to the registry)
    timm_augment: TimmAugment | None = None
    color_jitter: ColorJitter | None = None
    auto_augment: AutoAugment | None = None
    grayscale: RandomGrayscale | None = None
    blur: GaussianBlur | None = None
    random_erasing: RandomErasing | None = None
    exact_edges: bool = False
    interpolation: str = "bilinear"
    vflip: float = 0.0

    def __post_init__(self):
        _check_interpolation(self.interpolation, "TrainTransform.interpolation", TRAIN_INTERPOLATIONS)
        for op in CONFIGURED:
            value = getattr(self, op.field)
            require(value is None or isinstance(value, op.config), f"TrainTransform.{op.field}",
                    f"expected a {op.config.__name__} or None, got {type(value).__name__}")
        positive_int(self.size, "TrainTransform.size")
        require(self.geometry in GEOMETRIES, "TrainTransform.geometry",
                f"must be one of {GEOMETRIES}, got {self.geometry!r}")
        require(isinstance(self.exact_edges, bool), "TrainTransform.exact_edges",
                f"must be True or False, got {self.exact_edges!r}")
        require(isinstance(self.padding, int) and not isinstance(self.padding, bool) and self.padding >= 0,
                "TrainTransform.padding", f"expected an integer >= 0, got {self.padding!r}")
        scale = pair(self.scale, "TrainTransform.scale")
        require(0 < scale[0] and scale[1] <= 1, "TrainTransform.scale",
                f"must lie in (0, 1], got {scale}")
        ratio = pair(self.ratio, "TrainTransform.ratio")
        require(ratio[0] > 0, "TrainTransform.ratio", f"must be > 0, got {ratio}")
        require(0.0 <= float(self.hflip) <= 1.0, "TrainTransform.hflip",
                f"is a probability in [0, 1], got {self.hflip!r}")
        require(0.0 <= float(self.vflip) <= 1.0, "TrainTransform.vflip",
                f"is a probability in [0, 1], got {self.vflip!r}")
        object.__setattr__(self, "vflip", float(self.vflip))
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "hflip", float(self.hflip))
        for op in CONFIGURED:
            if op.active(self):
                op.check(self)


def _check_fields_match_registry() -> None:
    """TrainTransform's augmentation fields are the registry's, in its order, each typed with its op's
    config: a new op without its field fails here, at import, saying what to add."""
    names = [f.name for f in fields(TrainTransform)]
    ours = names[names.index("hflip") + 1:names.index("exact_edges")]
    wanted = [op.field for op in CONFIGURED]
    if ours != wanted:
        missing = [f"{op.field}: {op.config.__name__} | None = None" for op in CONFIGURED if op.field not in ours]
        raise TypeError(f"TrainTransform's augmentation fields {ours} differ from the registry's {wanted}"
                        + (f"; add {', '.join(missing)}" if missing else ""))
    for op in CONFIGURED:
        kind = TrainTransform.__dataclass_fields__[op.field].type
        if kind != f"{op.config.__name__} | None":
            raise TypeError(f"TrainTransform.{op.field} is typed {kind!r}; the registry says "
                            f"{op.config.__name__} | None")


_check_fields_match_registry()


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
        positive_int(self.size, "EvalTransform.size")
        positive_int(self.resize_size, "EvalTransform.resize_size")
        _check_interpolation(self.interpolation, "EvalTransform.interpolation")
        require(self.crop_mode in CROP_MODES, "EvalTransform.crop_mode",
                 f"must be one of {CROP_MODES}, got {self.crop_mode!r}")
        if self.crop_mode != "border":  # "border" pads instead
            require(self.resize_size >= self.size, "EvalTransform.resize_size",
                     f"must be >= size ({self.size}) so the center crop fits, got {self.resize_size}")

    @classmethod
    def from_crop_ratio(cls, size: int = 224, crop_ratio: float = 0.875, **options) -> "EvalTransform":
        """timm's `crop_pct`: resize to floor(size / crop_ratio); `options`: interpolation, crop_mode."""
        require(0 < crop_ratio <= 1, "EvalTransform.crop_ratio", f"must lie in (0, 1], got {crop_ratio!r}")
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
        each_field(self, ("device_memory_padding", "host_memory_padding", "preallocate_width_hint",
                          "preallocate_height_hint"),
                   lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "expected an integer >= 0")
        require(isinstance(self.hw_decoder_load, (int, float)) and 0.0 <= self.hw_decoder_load <= 1.0,
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
            require(isinstance(getattr(self, name), kind), f"Preprocess.{name}",
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
        arguments (`create_transform`'s names and defaults: scale, ratio, hflip, train_interpolation,
        and each augmentation's own, e.g. color_jitter, auto_augment such as "rand-m9-n2",
        grayscale_prob, gaussian_blur_prob, re_prob, re_mode), refusing those with no equivalent.
        `model_or_config`: a timm model, a pretrained tag ("resnet50.a1_in1k"), a pretrained cfg, or a
        resolved data config. Needs timm."""
        return cls._from_settings(pretrained.timm_settings(model_or_config, train_args))

    @classmethod
    def from_torchvision(cls, weights) -> "Preprocess":
        """The preprocessing of a torchvision weights enum, e.g. `ResNet50_Weights.IMAGENET1K_V2`
        (resize 232 bilinear, crop 224): its `transforms()`' sizes, interpolation, mean and std."""
        return cls._from_settings(pretrained.torchvision_settings(weights))

    @classmethod
    def _from_settings(cls, settings: dict) -> "Preprocess":
        return cls(train=TrainTransform(**settings["train"]), eval=EvalTransform(**settings["eval"]),
                   normalize=Normalize(**settings["normalize"]))


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
