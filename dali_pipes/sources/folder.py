"""An ImageFolder tree: one subfolder per class, classes and order exactly as torchvision's.

The scan reuses `torchvision.datasets.folder` so class indices and sample order cannot drift
from `torchvision.datasets.ImageFolder`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from ..errors import SourceError
from .base import files_fingerprint


class ImageFolderSource:
    """Samples `(path, class_index)` of a class-per-subfolder tree, read as encoded bytes."""

    extensions = IMG_EXTENSIONS
    encoded = True

    def __init__(self, root: str | os.PathLike, *, samples=None, classes=None, class_to_idx=None):
        """`samples` / `classes` / `class_to_idx`: a torchvision DatasetFolder's own (no scan)."""
        self.root = Path(root).expanduser()
        if samples is not None:
            self.samples, self.classes, self.class_to_idx = list(samples), list(classes), dict(class_to_idx)
            self.targets = np.asarray([label for _, label in self.samples], dtype=np.int64)
            return
        if not self.root.exists():
            raise SourceError(f"image folder {self.root} does not exist")
        if not self.root.is_dir():
            raise SourceError(f"image folder {self.root} is not a directory")
        try:
            self.classes, self.class_to_idx = find_classes(str(self.root))
        except FileNotFoundError:
            raise SourceError(
                f"image folder {self.root} has no class subfolders; expected ROOT/CLASS_NAME/IMAGE files"
            ) from None
        try:
            self.samples = make_dataset(str(self.root), self.class_to_idx, extensions=self.extensions)
        except FileNotFoundError as err:
            raise SourceError(f"image folder {self.root}: {err}") from None
        self.targets = np.asarray([label for _, label in self.samples], dtype=np.int64)

    @property
    def data_dir(self) -> Path:
        return self.root

    @property
    def fingerprint(self) -> str:
        """Changes when a file is added, removed, resized or rewritten (for cached statistics)."""
        return files_fingerprint("folder", ((path, f"{os.path.relpath(path, self.root)}|{label}")
                                            for path, label in self.samples))

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, index: int) -> bytes:
        path = self.samples[index][0]
        try:
            with open(path, "rb", buffering=0) as f:  # unbuffered: one read of the whole file
                return f.read()
        except OSError as err:
            raise SourceError(f"cannot read image file {path}: {err.strerror or err}") from None

    def describe(self, index: int) -> str:
        return self.samples[index][0]

    def __repr__(self) -> str:
        return f"ImageFolderSource({str(self.root)!r}, samples={len(self)}, classes={len(self.classes)})"
