"""`Preprocess` translated to `torchvision.transforms.v2`, and the decode that feeds it."""

from __future__ import annotations

import io

import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2

from ..config import Preprocess
from ..errors import ImageDecodeError
from ..loader_base import torch_dtype
from ..sources import check_encoded

# Formats torchvision.io decodes natively; the rest (bmp, tiff, pnm) go through PIL.
_NATIVE = {"jpeg", "png", "gif", "webp"}


def decode_rgb(data: bytes, where: str) -> torch.Tensor:
    """Encoded bytes -> (3, H, W) uint8 RGB tensor; failures name `where`."""
    fmt = check_encoded(data, where)
    try:
        if fmt in _NATIVE:
            return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return v2.functional.pil_to_tensor(im.convert("RGB"))
    except Exception as err:
        raise ImageDecodeError(where, f"{type(err).__name__}: {err}") from None


def build_transform(cfg: Preprocess, train: bool) -> v2.Compose:
    """uint8 (3, H, W) -> normalized (3, size, size) in the configured dtype."""
    if train:
        geometry = [
            v2.RandomResizedCrop(cfg.train.size, scale=cfg.train.scale, ratio=cfg.train.ratio, antialias=True),
            v2.RandomHorizontalFlip(cfg.train.hflip),
        ]
    else:
        geometry = [v2.Resize(cfg.eval.resize_size, antialias=True), v2.CenterCrop(cfg.eval.size)]
    norm = cfg.normalize
    return v2.Compose([
        *geometry,
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(norm.mean), std=list(norm.std)),
        v2.ToDtype(torch_dtype(norm.dtype)),
    ])
