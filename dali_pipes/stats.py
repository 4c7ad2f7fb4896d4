"""Exact per-channel mean and standard deviation of a dataset, for per-dataset standardization.

Exact: per-image pixel sums and sums of squares are integers, accumulated as Python ints, so the
result does not depend on batch order or float rounding. Population statistics over every pixel
of every image (as the published CIFAR figures are), in 0..1 units. Results are cached next to the
data (or in the user cache), keyed by the source's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .cache import default_cache_dir, write_json
from .sources.decode import to_image_tensor

STATS_FILE = ".dali-pipes-stats.json"


@dataclass(frozen=True)
class DatasetStats:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    images: int
    pixels: int


class _PixelSums(Dataset):
    def __init__(self, source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        image = to_image_tensor(self.source.read(index), self.source.describe(index), self.source.encoded)
        pixels = image.reshape(3, -1).to(torch.int64)
        return pixels.sum(dim=1), (pixels * pixels).sum(dim=1), pixels.shape[1]


def compute_stats(source, *, num_workers: int | None = None, progress=None) -> DatasetStats:
    """Decode every image once (no augmentation) and return its exact per-channel statistics."""
    workers = num_workers if num_workers is not None else min(8, os.cpu_count() or 1)
    loader = DataLoader(_PixelSums(source), batch_size=64, num_workers=workers, shuffle=False)
    sums, squares, pixels, images = [0, 0, 0], [0, 0, 0], 0, 0
    for s, q, n in loader:
        for c in range(3):
            sums[c] += int(s[:, c].sum())
            squares[c] += int(q[:, c].sum())
        pixels += int(n.sum())
        images += len(n)
        if progress is not None:
            progress(len(n))
    mean = tuple(sums[c] / pixels / 255.0 for c in range(3))
    std = tuple(math.sqrt(squares[c] * pixels - sums[c] ** 2) / pixels / 255.0 for c in range(3))
    return DatasetStats(mean=mean, std=std, images=images, pixels=pixels)


def _cache_files(source) -> list[Path]:
    fingerprint = getattr(source, "fingerprint", None)
    if not fingerprint:
        return []
    files = []
    if getattr(source, "data_dir", None):
        files.append(Path(source.data_dir) / STATS_FILE)
    key = hashlib.sha1(str(fingerprint).encode(), usedforsecurity=False).hexdigest()[:20]
    files.append(default_cache_dir() / "stats" / f"{key}.json")
    return files


def cached_stats(source, *, refresh: bool = False, progress=None, num_workers: int | None = None) -> DatasetStats:
    """The dataset's statistics from the cache when its fingerprint matches, else computed and cached."""
    files = _cache_files(source)
    fingerprint = str(getattr(source, "fingerprint", ""))
    if not refresh:
        for path in files:
            try:
                entry = json.loads(path.read_text()).get(fingerprint)
            except (OSError, ValueError, AttributeError):
                continue
            if entry:
                return DatasetStats(mean=tuple(entry["mean"]), std=tuple(entry["std"]),
                                    images=entry["images"], pixels=entry["pixels"])
    stats = compute_stats(source, progress=progress, num_workers=num_workers)
    for path in files:
        try:
            table = json.loads(path.read_text()) if path.exists() else {}
            table[fingerprint] = asdict(stats)
            write_json(path, table, indent=1)
            break
        except (OSError, ValueError):
            continue
    return stats
