"""dali-pipes: GPU image-classification data loading behind a drop-in PyTorch DataLoader."""

from .config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    EvalTransform,
    GpuDecoder,
    Normalize,
    Preprocess,
    TrainTransform,
)
from .dropin import CpuFallbackWarning, DataLoader, UnsupportedArgument
from .errors import ConfigError, ImageDecodeError, SourceError
from .loader import make_loader
from .mix import MixUpCutMix
from .ops.auto_augment import AutoAugment
from .ops.blur import GaussianBlur
from .ops.color_jitter import ColorJitter
from .ops.erasing import RandomErasing
from .ops.grayscale import RandomGrayscale
from .ops.timm_augment import TimmAugment
from .sources import ArraySource, HFDatasetSource, ImageFolderSource, ParquetSource
from .sources.coco import CocoSource
from .sources.stream import StreamedSource
from .sources.webdataset import WebDatasetSource
from .stats import DatasetStats, cached_stats, compute_stats
from .translate import Translation, UntranslatableTransform, from_torchvision

__version__ = "0.1.0"

__all__ = [
    "DataLoader",
    "CpuFallbackWarning",
    "from_torchvision",
    "Translation",
    "UntranslatableTransform",
    "UnsupportedArgument",
    "make_loader",
    "MixUpCutMix",
    # every augmentation's config, one per TrainTransform field (tests/test_config.py holds them
    # equal to the registry, dali_pipes.ops.CONFIGURED)
    "TimmAugment",
    "ColorJitter",
    "AutoAugment",
    "RandomGrayscale",
    "GaussianBlur",
    "RandomErasing",
    "Preprocess",
    "TrainTransform",
    "EvalTransform",
    "GpuDecoder",
    "Normalize",
    "PRESETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ConfigError",
    "ImageDecodeError",
    "SourceError",
    "ImageFolderSource",
    "HFDatasetSource",
    "ArraySource",
    "CocoSource",
    "WebDatasetSource",
    "ParquetSource",
    "StreamedSource",
    "DatasetStats",
    "compute_stats",
    "cached_stats",
]
