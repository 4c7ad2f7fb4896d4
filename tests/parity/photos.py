"""A corpus of real photographs (scikit-image's bundled samples) in the shapes and encodings that
trip loaders: landscape, portrait, smaller than 224, very wide, grayscale and CMYK JPEG, PNG with
alpha, 4:4:4 and 4:2:0 JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _photos():
    import skimage.data as data

    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "camera": data.camera(), "logo": data.logo(), "hubble": data.hubble_deep_field()}


CASES = [
    # name, photo, size (w, h) or None, mode, format, save options
    ("landscape_q90", "coffee", None, "RGB", "JPEG", {"quality": 90}),
    ("portrait_q90", "rocket", (300, 449), "RGB", "JPEG", {"quality": 90}),
    ("small_q90", "chelsea", (150, 100), "RGB", "JPEG", {"quality": 90}),
    ("tiny_png", "astronaut", (61, 47), "RGB", "PNG", {}),
    ("large_q95", "hubble", None, "RGB", "JPEG", {"quality": 95}),
    ("gray_jpeg", "camera", (353, 271), "L", "JPEG", {"quality": 90}),
    ("cmyk_jpeg", "astronaut", (333, 401), "CMYK", "JPEG", {"quality": 90}),
    ("rgba_png", "logo", None, "RGBA", "PNG", {}),
    ("wide_png", "coffee", (900, 200), "RGB", "PNG", {}),
    ("q75_444", "astronaut", None, "RGB", "JPEG", {"quality": 75, "subsampling": 0}),
    ("odd_q85", "chelsea", (257, 311), "RGB", "JPEG", {"quality": 85}),
]


def write_corpus(root: Path) -> list[Path]:
    """ROOT/photos/NAME.{jpg,png}, one class folder; returns the paths in ImageFolder order."""
    photos = _photos()
    folder = root / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name, photo, size, mode, fmt, options in CASES:
        image = Image.fromarray(photos[photo])
        if size is not None:
            image = image.resize(size, Image.BICUBIC)
        image = image.convert(mode)
        image.save(folder / f"{name}.{'jpg' if fmt == 'JPEG' else 'png'}", fmt, **options)
    return sorted(folder.iterdir())


def cases() -> list[str]:
    return sorted(name for name, *_ in CASES)


__all__ = ["write_corpus", "cases", "np"]
