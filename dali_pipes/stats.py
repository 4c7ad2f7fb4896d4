"""Exact per-channel mean and standard deviation of a dataset, for per-dataset standardization.

Exact: per-image pixel sums and sums of squares are integers, accumulated as Python ints, so the
result does not depend on batch order or float rounding. Population statistics over every pixel
of every image (as the published CIFAR figures are), in 0..1 units. Results are cached next to the
data (or in the user cache), keyed by the source's fingerprint.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .cache import FilePlace, default_cache_dir, stamped
from .sources.base import source_data_dir, source_fingerprint
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


def _cache_places(source) -> list[FilePlace]:
    fingerprint = source_fingerprint(source)
    if not fingerprint:
        return []
    data_dir = source_data_dir(source)
    places = [FilePlace(Path(data_dir) / STATS_FILE)] if data_dir else []
    key = hashlib.sha1(str(fingerprint).encode(), usedforsecurity=False).hexdigest()[:20]
    places.append(FilePlace(default_cache_dir() / "stats" / f"{key}.json"))
    return places


def cached_stats(source, *, refresh: bool = False, progress=None, num_workers: int | None = None) -> DatasetStats:
    """The dataset's statistics from the cache when its fingerprint matches, else computed and cached.
    A cache file holds one entry per fingerprint (several datasets may share a folder)."""
    fingerprint = str(source_fingerprint(source) or "")

    def pick(table):
        entry = table.get(fingerprint) if isinstance(table, dict) and not refresh else None
        return DatasetStats(**{**entry, "mean": tuple(entry["mean"]), "std": tuple(entry["std"])}) if entry else None

    def merge(table, stats: DatasetStats):
        return {**(table if isinstance(table, dict) else {}), fingerprint: asdict(stats)}

    return stamped(_cache_places(source), pick=pick, merge=merge, indent=1,
                   build=lambda: compute_stats(source, progress=progress, num_workers=num_workers))
