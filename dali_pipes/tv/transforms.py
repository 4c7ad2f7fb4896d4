"""`Preprocess` translated to `torchvision.transforms.v2`, and the decode that feeds it.

Eval uses torchvision's own `Resize` + `CenterCrop` kernels. Train runs each op's `v2.functional`
kernel (dali_pipes.ops) with parameters from `dali_pipes.params` (torchvision's sampling algorithms,
keyed by the sample's seed), so the DALI backend can apply the very same crop, flip, jitter, grey and
blur to the same sample.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..config import EvalTransform, Preprocess
from ..errors import ImageDecodeError
from ..loader_base import torch_dtype
from ..ops import active_ops
from ..params import draw_train_params
from ..sources import check_encoded
from .kernels import resize

# torchvision 0.29 deprecates torchvision.io's decoders in favour of TorchCodec, which does not
# decode images on every platform yet; they remain the libjpeg-turbo/libpng reference we compare with.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

# Formats torchvision.io decodes natively; PNG and the rest (bmp, tiff, pnm) are decoded in Python's
# own libraries: torchvision's libpng wrapper crashes the process (SIGSEGV) on many damaged PNGs.
_NATIVE = {"jpeg", "gif", "webp"}


def decode_rgb(data: bytes, where: str) -> torch.Tensor:
    """Encoded bytes -> (3, H, W) uint8 RGB tensor; failures name `where`, and none can crash."""
    fmt = check_encoded(data, where)
    try:
        if fmt in _NATIVE:
            return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        if fmt == "png" and len(data) > 24 and data[24] == 16:  # IHDR bit depth
            return _decode_png16(data)
        return _decode_pil(data, fmt)
    except Exception as err:
        raise ImageDecodeError(where, f"{type(err).__name__}: {err}") from None


def _decode_pil(data: bytes, fmt: str) -> torch.Tensor:
    """PIL: the same pixels as libpng for 1-8-bit PNGs (palette, grey, alpha dropped, not blended),
    and a Python exception for every damaged file."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large, not hostile: DALI decodes it
        with Image.open(io.BytesIO(data), formats=(fmt.upper(),) if fmt == "png" else None) as im:
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)  # CHW view, as decode_image's


def _decode_png16(data: bytes) -> torch.Tensor:
    """16-bit PNG with pypng (PIL keeps only the high byte of 16-bit colour): raw samples, then
    round(v / 257) as DALI's decoder does; grey is repeated, alpha dropped."""
    import png

    width, height, rows, info = png.Reader(bytes=data).read()
    samples = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
    rgb = samples[..., [0, 0, 0]] if info["greyscale"] else samples[..., :3]
    rgb = ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def to_image_tensor(data, where: str, encoded: bool) -> torch.Tensor:
    """A source's sample -> (3, H, W) uint8: decode bytes, or view an HWC uint8 array."""
    if encoded:
        return decode_rgb(data, where)
    return torch.from_numpy(data).permute(2, 0, 1)


def border_fill(mean) -> list[int]:
    """timm's padding colour for crop_mode="border": the mean in 0..255 (normalizes to 0)."""
    return [round(255 * m) for m in mean]


def eval_resize_crop(image: torch.Tensor, cfg: EvalTransform, fill: list[int]) -> torch.Tensor:
    """The eval geometry of `cfg` on a (3, H, W) uint8 image: timm's transforms_imagenet_eval, on
    tensors. "center": Resize(resize_size) + CenterCrop; "squash": both sides to resize_size, then
    CenterCrop; "border": the longer side to resize_size (timm's ResizeKeepRatio), then timm's
    CenterCropOrPad with `fill`."""
    if cfg.crop_mode == "center":
        image = resize(image, cfg.resize_size, cfg.interpolation)
    elif cfg.crop_mode == "squash":
        image = resize(image, [cfg.resize_size, cfg.resize_size], cfg.interpolation)
    else:
        h, w = image.shape[-2:]
        ratio = max(h / cfg.resize_size, w / cfg.resize_size)
        image = resize(image, [round(h / ratio), round(w / ratio)], cfg.interpolation)
        h, w = image.shape[-2:]
        if h < cfg.size or w < cfg.size:
            dw, dh = max(cfg.size - w, 0), max(cfg.size - h, 0)
            image = F.pad(image, [dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2], fill=fill)
    return F.center_crop(image, [cfg.size, cfg.size])


class EvalGeometry:
    """`eval_resize_crop` as a transform (picklable, for DataLoader workers and DALI's python op)."""

    def __init__(self, cfg: Preprocess):
        self.cfg = cfg.eval
        self.fill = border_fill(cfg.normalize.mean)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return eval_resize_crop(image, self.cfg, self.fill)


class TrainKernel:
    """The train transform: each active op's torchvision kernel (dali_pipes.ops, in registry order)
    with the parameters `dali_pipes.params` draws for the sample - the same ones the DALI backend
    applies. The auto-augment policy draws from torch's RNG, which the caller seeds per sample."""

    def __init__(self, cfg: Preprocess):
        self.cfg = cfg.train
        self.ops = active_ops(cfg.train)
        self.normalize = _normalize(cfg)

    def __call__(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        values = draw_train_params(self.cfg, [tuple(image.shape[-2:])], [seed]).sample(0)
        for op in self.ops:
            image = op.torch(image, values, self.cfg)
        return self.normalize(image)


def _normalize(cfg: Preprocess) -> v2.Compose:
    norm = cfg.normalize
    return v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(norm.mean), std=list(norm.std)),
        v2.ToDtype(torch_dtype(norm.dtype)),
    ])


def build_eval_transform(cfg: Preprocess) -> v2.Compose:
    """Resize and crop as `cfg.eval` says (torchvision's kernels), then normalize."""
    return v2.Compose([EvalGeometry(cfg), _normalize(cfg)])
