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
from .errors import ConfigError, ImageDecodeError, SourceError
from .loader import make_loader
from .mix import MixUpCutMix
from .ops import CONFIGURED as _CONFIGURED
from .sources import ArraySource, HFDatasetSource, ImageFolderSource
from .sources.coco import CocoSource
from .sources.webdataset import WebDatasetSource
from .stats import DatasetStats, cached_stats, compute_stats

# every augmentation's config dataclass (ColorJitter, AutoAugment, RandomGrayscale, GaussianBlur,
# RandomErasing, ...), from the registry: a new op is exported without a line here
_AUGMENTATION_CONFIGS = {op.config.__name__: op.config for op in _CONFIGURED}
globals().update(_AUGMENTATION_CONFIGS)

__version__ = "0.1.0"

__all__ = [
    "make_loader",
    "MixUpCutMix",
    *_AUGMENTATION_CONFIGS,
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
