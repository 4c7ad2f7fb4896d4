"""Encoded bytes -> RGB pixels in Python, where no DALI graph decodes: the torchvision backend, dataset
statistics, and the DALI loader's search for the file behind a failed batch.

JPEG, GIF and WebP go to torchvision.io (libjpeg-turbo, the reference the parity tests compare
with); PNG and the rest (bmp, tiff, pnm) to PIL and pypng: torchvision's libpng wrapper crashes the
process (SIGSEGV) on many damaged PNGs. Every failure is an ImageDecodeError naming the sample.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch

from ..errors import ImageDecodeError
from .base import check_encoded
from .header import DEFAULT_MAX_PIXELS, checked_size

_NATIVE = {"jpeg", "gif", "webp"}
# torchvision 0.29 deprecates torchvision.io's decoders in favour of TorchCodec, which does not decode
# images on every platform yet; silenced around our own calls only
_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"


def decode_rgb(data: bytes, where: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Encoded bytes -> (3, H, W) uint8 RGB tensor; failures name `where`, and none can crash. An
    image whose header claims more than `max_pixels` is refused before its decoder allocates."""
    fmt = check_encoded(data, where)
    if max_pixels is not None:
        checked_size(data, where, max_pixels)
    try:
        if fmt in _NATIVE:
            return _decode_native(data)
        if fmt == "png" and len(data) > 24 and data[24] == 16:  # IHDR bit depth
            return _decode_png16(data)
        return _decode_pil(data, fmt)
    except Exception as err:
        raise ImageDecodeError(where, f"{type(err).__name__}: {err}") from None


def _decode_native(data: bytes) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION, category=DeprecationWarning)
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


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


def to_image_tensor(data, where: str, encoded: bool, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """A source's sample -> (3, H, W) uint8: decode bytes, or view an HWC uint8 array."""
    if encoded:
        return decode_rgb(data, where, max_pixels)
    return torch.from_numpy(data).permute(2, 0, 1)


def pil_decodes(data: bytes) -> bool:
    """Whether PIL decodes the bytes whole (the DALI loader's test for the culprit of a failed batch)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return True
    except Exception:
        return False
