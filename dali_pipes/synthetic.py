"""A synthetic ImageNet-like JPEG tree, made on first use and cached.

Photographic content: random crops of the photographs scikit-image ships (astronaut, coffee, cat,
rocket, Hubble field, stained tissue, ...), rescaled to ImageNet's typical sizes (long side around
500 px by default, aspect 3:4 to 4:3), with mild sensor-like noise so that they compress like photos,
saved as JPEG quality 90. The class is the source photograph, so a model can learn something.

Also decompression bombs (`jpeg_bomb`, `png_bomb`): tiny files whose headers claim huge images, for
tests and benchmarks of `max_pixels`.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from .cache import default_cache_dir

FORMAT_VERSION = 3
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
          "colorwheel", "camera", "coins", "moon")


def _photographs() -> list[np.ndarray]:
    import skimage.data

    out = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        out.append(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3])
    return out


def _sample(rng: np.random.Generator, photo: np.ndarray, width: int, height: int) -> Image.Image:
    """A random crop of `photo` (a quarter to all of it), resized to width x height, with noise."""
    ph, pw = photo.shape[:2]
    frac = rng.uniform(0.5, 1.0)
    aspect = width / height
    ch = int(min(ph, pw / aspect) * frac)
    cw = int(ch * aspect)
    top, left = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
    crop = Image.fromarray(photo[top:top + ch, left:left + cw]).resize((width, height), Image.BICUBIC)
    noise = rng.normal(0, 5.0, size=(height, width, 1)) + rng.normal(0, 2.5, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(crop, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def make_synthetic_imagefolder(root: str | os.PathLike | None = None, *, num_images: int = 256,
                               num_classes: int = 10, seed: int = 0, quality: int = 90,
                               long_side: int = 500, progress=None) -> Path:
    """Write (or reuse) ROOT/class_XX/NNNNN.jpg; returns ROOT. Generation is deterministic.

    Long sides spread over [0.8, 1] x `long_side` (ImageNet's median photo is about 500 x 375).
    """
    if num_images < 1 or num_classes < 1 or long_side < 8:
        raise ValueError(f"num_images, num_classes must be >= 1 and long_side >= 8, "
                         f"got {num_images}, {num_classes}, {long_side}")
    root = Path(root) if root is not None else default_cache_dir() / (
        f"synthetic-v{FORMAT_VERSION}-n{num_images}-c{num_classes}-s{seed}-q{quality}-l{long_side}")
    if (root / ".complete").exists():
        return root
    rng = np.random.default_rng(seed)
    photos = _photographs()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root.parent))
    try:
        for i in range(num_images):
            label = i % num_classes
            side = int(rng.integers(int(long_side * 0.8), long_side + 1))
            aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
            width, height = (side, int(side / aspect)) if aspect >= 1 else (int(side * aspect), side)
            folder = staging / f"class_{label:02d}"
            folder.mkdir(exist_ok=True)
            image = _sample(rng, photos[label % len(photos)], width, height)
            image.save(folder / f"{i:05d}.jpg", quality=quality)
            if progress is not None:
                progress(1)
        (staging / ".complete").write_text(f"{num_images} images\n")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root


def jpeg_bomb(height: int = 60000, width: int = 60000) -> bytes:
    """A real 16 x 16 JPEG whose start-of-frame says `height` x `width` (a few hundred bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_bomb(height: int = 30000, width: int = 30000) -> bytes:
    """A PNG whose IHDR (with a valid CRC) says `height` x `width`, with one compressed row of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (3 * width + 1)))
            + chunk(b"IEND", b""))
