"""Image size from the encoded header, without decoding: the train parameters need (H, W) before
the decoder runs (the crop window is decoded directly).

JPEG, PNG, GIF and BMP are parsed here (microseconds); other formats ask PIL, which also reads only
the header. EXIF orientation is not applied, matching both decoders as configured (see docs/usage.md,
"Errors and bad data").
"""

from __future__ import annotations

import io
import struct

from ..errors import ImageDecodeError

DEFAULT_MAX_PIXELS = 178_956_970  # PIL's Image.MAX_IMAGE_PIXELS: make_loader's default limit

# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return h, w
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def image_size(data: bytes, where: str) -> tuple[int, int]:
    """(height, width) of an encoded image."""
    size = None
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        size = (h, w)
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        size = (h, w)
    elif data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        size = (abs(h), w)
    if size is None:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                size = (im.height, im.width)
        except Exception as err:
            raise ImageDecodeError(where, f"cannot read the image size from its header ({err})") from None
    if size[0] <= 0 or size[1] <= 0:
        raise ImageDecodeError(where, f"the header gives an empty image ({size[1]}x{size[0]})")
    return size


def check_pixels(size: tuple[int, int], where: str, max_pixels: int | None) -> None:
    """Refuse, before any decode, an image whose header claims more than `max_pixels` pixels: a
    decoder would allocate what the header says (a few kilobytes can claim gigabytes)."""
    height, width = size
    if max_pixels is not None and height * width > max_pixels:
        raise ImageDecodeError(where, f"its header gives {width} x {height} = {height * width:,} pixels, over "
                               f"max_pixels={max_pixels:,} (a decompression bomb?); make_loader(max_pixels=...) "
                               "raises the limit, None turns it off")


def checked_size(data: bytes, where: str, max_pixels: int | None) -> tuple[int, int]:
    """`image_size`, refused past `max_pixels` (see check_pixels)."""
    size = image_size(data, where)
    check_pixels(size, where, max_pixels)
    return size
