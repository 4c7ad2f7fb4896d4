"""A small synthetic ImageNet-like JPEG tree, made on first use and cached.

Photo-like enough to exercise a real decoder: smooth random colour fields with fine noise, at
ImageNet's typical sizes (long side around 500 px, aspect ratios 3:4 to 4:3), JPEG quality 90.
Each class has its own tint, so a model can learn something from it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    base = os.environ.get("DALI_PIPES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dali-pipes")
    return Path(base)


def _photo_like(rng: np.random.Generator, height: int, width: int, tint: np.ndarray) -> Image.Image:
    coarse = rng.uniform(0, 255, size=(rng.integers(3, 9), rng.integers(3, 9), 3))
    coarse = np.clip(coarse * 0.6 + tint * 0.4, 0, 255).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
    noise = rng.normal(0, 6.0, size=(height, width, 1)) + rng.normal(0, 3.0, size=(height, width, 3))
    return Image.fromarray(np.clip(field + noise, 0, 255).astype(np.uint8))


def make_synthetic_imagefolder(root: str | os.PathLike | None = None, *, num_images: int = 256,
                               num_classes: int = 10, seed: int = 0, quality: int = 90,
                               progress=None) -> Path:
    """Write (or reuse) ROOT/class_XX/NNNNN.jpg; returns ROOT. Generation is deterministic."""
    if num_images < 1 or num_classes < 1:
        raise ValueError(f"num_images and num_classes must be >= 1, got {num_images}, {num_classes}")
    root = Path(root) if root is not None else (
        default_cache_dir() / f"synthetic-v{FORMAT_VERSION}-n{num_images}-c{num_classes}-s{seed}-q{quality}")
    if (root / ".complete").exists():
        return root
    rng = np.random.default_rng(seed)
    tints = rng.uniform(0, 255, size=(num_classes, 3))
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root.parent))
    try:
        for i in range(num_images):
            label = i % num_classes
            long_side = int(rng.integers(400, 501))
            aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
            width, height = (long_side, int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), long_side)
            folder = staging / f"class_{label:02d}"
            folder.mkdir(exist_ok=True)
            _photo_like(rng, height, width, tints[label]).save(folder / f"{i:05d}.jpg", quality=quality)
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
