"""dali-pipes: GPU image-classification data loading behind a drop-in PyTorch DataLoader."""

from .config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    AutoAugment,
    ColorJitter,
    ConfigError,
    EvalTransform,
    GaussianBlur,
    GpuDecoder,
    Normalize,
    Preprocess,
    RandomErasing,
    RandomGrayscale,
    TrainTransform,
)
from .errors import ImageDecodeError, SourceError
from .loader import make_loader
from .mix import MixUpCutMix
from .sources import ArraySource, HFDatasetSource, ImageFolderSource
from .sources.coco import CocoSource
from .sources.webdataset import WebDatasetSource
from .stats import DatasetStats, cached_stats, compute_stats

__version__ = "0.1.0"

__all__ = [
    "make_loader",
    "MixUpCutMix",
    "ColorJitter",
    "AutoAugment",
    "RandomErasing",
    "RandomGrayscale",
    "GaussianBlur",
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
    "DatasetStats",
    "compute_stats",
    "cached_stats",
]
