"""dali-pipes: GPU image-classification data loading behind a drop-in PyTorch DataLoader."""

from .config import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    ConfigError,
    EvalTransform,
    Normalize,
    Preprocess,
    TrainTransform,
)
from .errors import ImageDecodeError, SourceError
from .loader import make_loader
from .sources import ImageFolderSource

__version__ = "0.1.0"

__all__ = [
    "make_loader",
    "Preprocess",
    "TrainTransform",
    "EvalTransform",
    "Normalize",
    "PRESETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ConfigError",
    "ImageDecodeError",
    "SourceError",
    "ImageFolderSource",
]
