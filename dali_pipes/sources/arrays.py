"""In-memory arrays: `(images_uint8_NHWC, labels)`, e.g. CIFAR already loaded with numpy.

No encoding round trip: both backends take the raw HWC arrays (DALI skips its decoder).
"""

from __future__ import annotations

import numpy as np

from ..errors import SourceError
from .labels import check_class_indices, class_names, integer_labels


class ArraySource:
    encoded = False

    def __init__(self, images, labels, classes: list[str] | None = None, *, unlabeled: bool = False):
        images = np.asarray(images)
        if images.ndim == 3:  # (N, H, W) grayscale -> RGB
            images = np.repeat(images[..., None], 3, axis=-1)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise SourceError(f"images: expected an (N, H, W, 3) array (NHWC, RGB), got shape {images.shape}")
        if images.dtype != np.uint8:
            raise SourceError(f"images: expected dtype uint8 (0..255), got {images.dtype}")
        labels = np.asarray(labels)
        if len(labels) != len(images):
            raise SourceError(f"labels: {len(labels)} labels for {len(images)} images")
        self.images = np.ascontiguousarray(images)
        if labels.ndim == 2:  # multi-hot
            self.targets = labels.astype(np.float32)
            self.classes = class_names(classes, labels.shape[1], "classes")
        else:
            self.targets = integer_labels(labels, "labels", unlabeled=unlabeled)
            if classes is not None:
                check_class_indices(self.targets, lambda i: f"labels: sample {i}", unlabeled=unlabeled,
                                    num_classes=len(classes), names_from="classes")
            self.classes = class_names(classes, int(self.targets.max(initial=-1)) + 1, "classes")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.images)

    def read(self, index: int) -> np.ndarray:
        return self.images[index]

    def describe(self, index: int) -> str:
        return f"array sample {index}"

    def __repr__(self) -> str:
        return f"ArraySource(images={self.images.shape}, classes={len(self.classes)})"
