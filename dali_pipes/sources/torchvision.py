"""A user's torchvision dataset as a Source: `ImageFolder` / `DatasetFolder` (their own `samples`,
`classes` and `class_to_idx`, read as encoded files), `CIFAR10` / `CIFAR100` (their `data` array and
`targets`), and a `Subset` of any source (what `random_split` returns). The dataset's `transform`
is not read here (`dali_pipes.from_torchvision` translates it); a `target_transform` is refused:
labels reach the engines as the dataset's class indices.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import SourceError
from .arrays import ArraySource
from .folder import ImageFolderSource


def is_torchvision_dataset(obj) -> bool:
    """A torchvision dataset (or a subclass), or torch's Subset."""
    if isinstance(obj, type):
        return False
    return (type(obj).__name__ == "Subset" and type(obj).__module__.startswith("torch.utils.data")) or any(
        cls.__module__.startswith("torchvision.datasets") for cls in type(obj).__mro__)


def base_dataset(dataset):
    """The dataset under any Subsets (whose transform is the one that runs)."""
    while type(dataset).__name__ == "Subset":
        dataset = dataset.dataset
    return dataset


def torchvision_source(dataset, resolve):
    """The Source for a torchvision dataset; `resolve` turns a Subset's inner dataset, if it is not
    one of torchvision's, into a Source."""
    name = type(dataset).__name__
    if name == "Subset":
        inner = dataset.dataset
        return SubsetSource(torchvision_source(inner, resolve) if is_torchvision_dataset(inner) else resolve(inner),
                            dataset.indices)
    if getattr(dataset, "target_transform", None) is not None:
        raise SourceError(f"{name}.target_transform={dataset.target_transform!r}: labels reach the engines as "
                          "class indices; map them after the loader")
    if hasattr(dataset, "samples") and hasattr(dataset, "loader"):
        from torchvision.datasets.folder import default_loader, pil_loader

        if dataset.loader not in (default_loader, pil_loader):
            raise SourceError(f"{name}.loader={dataset.loader!r}: the engines decode image files themselves "
                              "(torchvision's default loader only)")
        return ImageFolderSource(dataset.root, samples=dataset.samples, classes=dataset.classes,
                                 class_to_idx=dataset.class_to_idx)
    if isinstance(getattr(dataset, "data", None), np.ndarray) and hasattr(dataset, "targets"):
        return ArraySource(dataset.data, dataset.targets, list(dataset.classes))
    raise SourceError(f"unsupported torchvision dataset {name}: ImageFolder / DatasetFolder with the default "
                      "loader, CIFAR10 / CIFAR100, or a Subset of them")


class SubsetSource:
    """The samples `indices` of `base`, in that order (torch's Subset)."""

    def __init__(self, base, indices):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(self.indices) and (self.indices.min() < -len(base) or self.indices.max() >= len(base)):
            raise SourceError(f"Subset.indices: {len(base)} samples, indices reach {int(self.indices.max())}")
        self.indices %= max(len(base), 1)
        self.encoded, self.classes, self.class_to_idx = base.encoded, base.classes, base.class_to_idx
        self.targets = np.asarray(base.targets)[self.indices]
        if getattr(base, "read_batch", None) is not None:  # keep a columnar source's batched reads
            self.read_batch = lambda indices: base.read_batch([int(self.indices[i]) for i in indices])

    @property
    def fingerprint(self) -> str | None:
        inner = getattr(self.base, "fingerprint", None)
        return None if inner is None else hashlib.sha256(inner.encode() + self.indices.tobytes()).hexdigest()

    @property
    def data_dir(self):
        return getattr(self.base, "data_dir", None)

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, index: int):
        return self.base.read(int(self.indices[index]))

    def describe(self, index: int) -> str:
        return self.base.describe(int(self.indices[index]))

    def __repr__(self) -> str:
        return f"SubsetSource({self.base!r}, samples={len(self)})"
