"""`Preprocess` translated to `torchvision.transforms.v2`, and the decode that feeds it."""

from __future__ import annotations

import io
import warnings

import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2

from ..config import Preprocess
from ..errors import ImageDecodeError
from ..loader_base import torch_dtype
from ..sources import check_encoded

# torchvision 0.29 deprecates torchvision.io's decoders in favour of TorchCodec, which does not
# decode images on every platform yet; they remain the libjpeg-turbo/libpng reference we compare with.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

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


def to_image_tensor(data, where: str, encoded: bool) -> torch.Tensor:
    """A source's sample -> (3, H, W) uint8: decode bytes, or view an HWC uint8 array."""
    if encoded:
        return decode_rgb(data, where)
    return torch.from_numpy(data).permute(2, 0, 1)


class PadRandomCrop:
    """Zero-pad by `padding` and crop back to the input's own size at a uniform random offset."""

    def __init__(self, padding: int):
        self.padding = padding

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        dy, dx = (torch.randint(-self.padding, self.padding + 1, (2,))).tolist()
        return v2.functional.crop(image, dy, dx, h, w)  # out-of-bounds regions are zero-filled


class ResizeIfNeeded:
    """Resize to `size` x `size` unless the image already is (no upscaling of CIFAR by default)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[-2:]) == (self.size, self.size):
            return image
        return v2.functional.resize(image, [self.size, self.size], antialias=True)


def _train_geometry(cfg: Preprocess) -> list:
    t = cfg.train
    if t.geometry == "pad_crop":
        crop = [PadRandomCrop(t.padding), ResizeIfNeeded(t.size)]
    else:
        crop = [v2.RandomResizedCrop(t.size, scale=t.scale, ratio=t.ratio, antialias=True)]
    return [*crop, v2.RandomHorizontalFlip(t.hflip), *_photometric(cfg)]


def _photometric(cfg: Preprocess) -> list:
    """Color jitter, then the auto-augment policy, as `transforms.v2` (on uint8 images)."""
    out = []
    jitter = cfg.train.color_jitter
    if jitter is not None:
        op = v2.ColorJitter(brightness=jitter.brightness, contrast=jitter.contrast,
                            saturation=jitter.saturation, hue=jitter.hue)
        out.append(op if jitter.p >= 1 else v2.RandomApply([op], p=jitter.p))
    policy = cfg.train.auto_augment
    if policy is not None:
        if policy.policy == "autoaugment":
            out.append(v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET))
        elif policy.policy == "randaugment":
            out.append(v2.RandAugment(num_ops=policy.num_ops, magnitude=policy.magnitude,
                                      num_magnitude_bins=policy.num_magnitude_bins))
        else:
            out.append(v2.TrivialAugmentWide(num_magnitude_bins=policy.num_magnitude_bins))
    return out


def build_transform(cfg: Preprocess, train: bool) -> v2.Compose:
    """uint8 (3, H, W) -> normalized (3, size, size) in the configured dtype."""
    if train:
        geometry = _train_geometry(cfg)
    else:
        geometry = [v2.Resize(cfg.eval.resize_size, antialias=True), v2.CenterCrop(cfg.eval.size)]
    norm = cfg.normalize
    return v2.Compose([
        *geometry,
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(norm.mean), std=list(norm.std)),
        v2.ToDtype(torch_dtype(norm.dtype)),
    ])
