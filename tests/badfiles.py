"""Unreadable image files the bad-input and robustness tests share."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def noisy_jpeg(h=300, w=400) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


BAD_FILES = {
    "empty.jpg": b"",
    "text.jpg": b"this is a text file, not an image\n" * 4,
    "truncated.jpg": noisy_jpeg()[:20000],
    "header_only.jpg": noisy_jpeg()[:300],
    "truncated.png": None,  # filled in below: a PNG cut in half
}


def _truncated_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]
