"""FFCV as a contender of `dali-pipes bench` (the `ffcv` extra; FFCV 1.0.2 builds against Debian's
libopencv-dev and libturbojpeg0-dev). FFCV reads its own `.beton` file, so the source's images are
converted first, once per source (FFCV's writer: JPEG re-encoded at its default quality 90, labels
as integers), cached in the folder the caller names (the benchmark: the temp folder, keyed by the
source's fingerprint); the timed epochs read that file with FFCV's `Loader`: its
random-resized-crop (scale 0.08-1, ratio 3/4-4/3) or centre-crop decoder, flip and normalization on
the CPU, in its worker threads.

FFCV has no colour jitter, policies, grayscale, blur or random erasing, and its MixUp differs from
the recipes' batch-level MixUp/CutMix switch, so it runs the bare recipe (crop-flip) only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

NAME = "ffcv"
RECIPES = ("crop-flip",)  # the recipes FFCV can express
MEAN = np.array([0.485, 0.456, 0.406]) * 255
STD = np.array([0.229, 0.224, 0.225]) * 255


def available() -> bool:
    return importlib.util.find_spec("ffcv") is not None


class _Images:
    """The source as the indexed dataset FFCV's writer takes: (PIL RGB image, label)."""

    def __init__(self, source):
        self.source = source

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        import io

        from PIL import Image

        data = self.source.read(index)
        image = Image.open(io.BytesIO(data)) if self.source.encoded else Image.fromarray(data)
        return image.convert("RGB"), int(self.source.targets[index])


def beton(source, cache_dir: Path, workers: int) -> Path:
    """The source converted to FFCV's format (written once; `cache_dir` keyed by the caller)."""
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter

    path = Path(cache_dir) / "ffcv.beton"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        DatasetWriter(str(partial), {"image": RGBImageField(write_mode="jpg"), "label": IntField()},
                      num_workers=workers).from_indexed_dataset(_Images(source))
        partial.rename(path)
    return path


def loader(source, cache_dir: Path, *, train: bool, batch_size: int, workers: int, size: int = 224,
           eval_resize: int = 256):
    """FFCV's Loader over the converted source: float32 (B, 3, size, size) ImageNet-normalized images."""
    from ffcv.fields.decoders import CenterCropRGBImageDecoder, IntDecoder, RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.transforms import NormalizeImage, RandomHorizontalFlip, Squeeze, ToTensor, ToTorchImage

    if train:
        image = [RandomResizedCropRGBImageDecoder((size, size)), RandomHorizontalFlip()]
    else:
        image = [CenterCropRGBImageDecoder((size, size), ratio=size / eval_resize)]
    image += [NormalizeImage(MEAN, STD, np.float32), ToTensor(), ToTorchImage()]
    return Loader(str(beton(source, cache_dir, workers)), batch_size=batch_size, num_workers=workers,
                  order=OrderOption.RANDOM if train else OrderOption.SEQUENTIAL, drop_last=False,
                  pipelines={"image": image, "label": [IntDecoder(), ToTensor(), Squeeze()]})
