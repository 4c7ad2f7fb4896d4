"""A user's torchvision dataset as a Source: `ImageFolder` / `DatasetFolder` (their own `samples`,
`classes` and `class_to_idx`, read as encoded files), `CIFAR10` / `CIFAR100` (their `data` array and
`targets`), and a `Subset` of any source (what `random_split` returns). The dataset's `transform`
is not read here (`dali_pipes.from_torchvision` translates it); a `target_transform` is applied to
the labels where it is a lookup (`mapping.__getitem__`), and refused otherwise. `UserDatasetSource`
runs a dataset as it is, for what has no translation.
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


def unwrap_subsets(dataset) -> tuple:
    """(the dataset under any Subsets, each sample's index in it)."""
    positions = np.arange(len(dataset))
    while type(dataset).__name__ == "Subset":
        positions = np.asarray(dataset.indices, dtype=np.int64)[positions]
        dataset = dataset.dataset
    return dataset, positions


def base_dataset(dataset):
    """The dataset under any Subsets (whose transform is the one that runs)."""
    return unwrap_subsets(dataset)[0]


def torchvision_source(dataset, resolve):
    """The Source for a torchvision dataset; `resolve` turns a Subset's inner dataset, if it is not
    one of torchvision's, into a Source."""
    name = type(dataset).__name__
    if name == "Subset":
        inner = dataset.dataset
        return SubsetSource(torchvision_source(inner, resolve) if is_torchvision_dataset(inner) else resolve(inner),
                            dataset.indices)
    mapping = _label_mapping(dataset)
    if hasattr(dataset, "samples") and hasattr(dataset, "loader"):
        from torchvision.datasets.folder import default_loader, pil_loader

        if dataset.loader not in (default_loader, pil_loader):
            raise SourceError(f"{name}.loader={dataset.loader!r}: the engines decode image files themselves "
                              "(torchvision's default loader only)")
        samples = [(path, mapping(label)) for path, label in dataset.samples]
        return ImageFolderSource(dataset.root, samples=samples, classes=dataset.classes,
                                 class_to_idx=dataset.class_to_idx)
    if isinstance(getattr(dataset, "data", None), np.ndarray) and hasattr(dataset, "targets"):
        return ArraySource(dataset.data, [mapping(t) for t in dataset.targets], list(dataset.classes))
    raise SourceError(f"unsupported torchvision dataset {name}: ImageFolder / DatasetFolder with the default "
                      "loader, CIFAR10 / CIFAR100, or a Subset of them")


def _label_mapping(dataset):
    """The dataset's target_transform as a function of the class index: none, or the lookup of a
    dict / list / tuple (`target_transform=mapping.__getitem__`); any other callable may do anything
    per call (the dataset then runs as it is: SourceError)."""
    transform = getattr(dataset, "target_transform", None)
    if transform is None:
        return int
    table = getattr(transform, "__self__", None)
    if getattr(transform, "__name__", "") == "__getitem__" and isinstance(table, (dict, list, tuple)):
        def mapped(label):
            value = table[label]
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SourceError(f"{type(dataset).__name__}.target_transform maps class {label} to {value!r}: "
                                  "class indices (integers) only")
            return int(value)
        return mapped
    raise SourceError(f"{type(dataset).__name__}.target_transform={transform!r}: a lookup (mapping.__getitem__) is "
                      "applied to the labels; another function is not read")


class SubsetSource:
    """The samples `indices` of `base`, in that order (torch's Subset)."""

    def __init__(self, base, indices):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(self.indices) and (self.indices.min() < -len(base) or self.indices.max() >= len(base)):
            raise SourceError(f"Subset.indices: {len(base)} samples, indices reach {int(self.indices.max())}")
        self.indices %= max(len(base), 1)
        self.encoded, self.classes, self.class_to_idx = base.encoded, base.classes, base.class_to_idx
        self.transformed = getattr(base, "transformed", False)
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


class UserDatasetSource:
    """The user's own dataset, run as it is: `read(i)` is `dataset[i]`, (its transform's output,
    its label), for what has no translation to the engines (a Lambda, a custom op or loader, a
    target_transform). Only the torchvision engine runs it (per sample, in its worker processes),
    and batches keep the dtype the transform gives."""

    encoded = False
    transformed = True

    def __init__(self, dataset, like=None):
        """`like`: the dataset's Source, where one was made, for its labels and classes."""
        self.dataset = dataset
        self._base, self._positions = unwrap_subsets(dataset)
        if like is not None:
            self.targets, self.classes, self.class_to_idx = np.asarray(like.targets), like.classes, like.class_to_idx
            return
        targets = getattr(self._base, "targets", None)
        if targets is None:
            raise SourceError(f"{type(dataset).__name__} has no `targets`: the loader's labels and reports need them")
        self.targets = np.asarray(targets)[self._positions]
        classes = getattr(self._base, "classes", None)
        self.classes = list(classes) if classes is not None else [str(k) for k in range(int(self.targets.max()) + 1)]
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.dataset)

    def read(self, index: int):
        return self.dataset[index]

    def describe(self, index: int) -> str:
        samples = getattr(self._base, "samples", None)
        return samples[self._positions[index]][0] if samples is not None else f"{type(self.dataset).__name__}[{index}]"

    def __repr__(self) -> str:
        return f"UserDatasetSource({type(self.dataset).__name__}, samples={len(self)})"
