"""Hugging Face `datasets.Dataset` as a source: the encoded bytes go straight to the decoder.

The image column is read with `Image(decode=False)`, so PIL never decodes on the way to DALI.
Schemas are recognised from the features (cifar10: img/label, cifar100: img/fine_label,
imagenet-1k: image/label, COCO-style `objects.category` for multi-label) and can be overridden
with `image_column=` / `label_column=`.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import SourceError
from .labels import class_names, integer_labels

IMAGE_COLUMNS = ("img", "image", "jpg", "png", "webp")
LABEL_COLUMNS = ("label", "fine_label", "labels", "cls", "objects")


def _feature_kind(feature) -> tuple[str, object]:
    """("classlabel", ClassLabel) | ("multilabel", ClassLabel) | ("int", None) | ("other", None)."""
    from datasets import ClassLabel, Value

    if isinstance(feature, ClassLabel):
        return "classlabel", feature
    if isinstance(feature, Value) and feature.dtype.startswith(("int", "uint")):
        return "int", None
    inner = getattr(feature, "feature", None)  # List / Sequence / LargeList
    if isinstance(feature, dict):
        inner = feature.get("category", feature.get("label"))
    elif isinstance(inner, dict):
        inner = inner.get("category", inner.get("label"))
    if inner is not None:
        inner = getattr(inner, "feature", inner) if not isinstance(inner, ClassLabel) else inner
        if isinstance(inner, ClassLabel):
            return "multilabel", inner
    return "other", None


def _pick(columns, preferred, accept, what: str, given):
    if given is not None:
        if given not in columns:
            raise SourceError(f"{what} column {given!r} is not in the dataset; its columns: {sorted(columns)}")
        return given
    for name in preferred:
        if name in columns and accept(columns[name]):
            return name
    for name, feature in columns.items():
        if accept(feature):
            return name
    raise SourceError(f"found no {what} column; the dataset has columns {sorted(columns)} "
                      f"(expected one of {list(preferred)}, or pass {what}_column=)")


def pick_columns(features, image_column: str | None, label_column: str | None, is_image=None,
                 images: str = "an Image feature of encoded images"):
    """(image column, label column, label kind, its ClassLabel or None) of a dataset's `features`:
    the given names, else the schemas' usual ones (`IMAGE_COLUMNS`, `LABEL_COLUMNS`), else the first
    that fits; refused by name where the image column is not `is_image` or the label not class indices."""
    from datasets import Image

    is_image = is_image or (lambda f: isinstance(f, Image))
    image = _pick(features, IMAGE_COLUMNS, is_image, "image", image_column)
    if not is_image(features[image]):
        raise SourceError(f"column {image!r} is {type(features[image]).__name__}, not {images}")
    label = _pick(features, LABEL_COLUMNS, lambda f: _feature_kind(f)[0] != "other", "label", label_column)
    kind, classlabel = _feature_kind(features[label])
    if kind == "other":
        raise SourceError(f"label column {label!r} is {features[label]!r}; "
                          "expected integer class indices (ClassLabel or int) or a list of ClassLabel")
    return image, label, kind, classlabel


def targets_and_classes(labels, kind: str, classlabel, label_column: str, *, unlabeled: bool, name):
    """(targets, class names) from a label column's values: multi-hot (N, K) float32 for lists of a
    ClassLabel, else checked int64 class indices (`name(i)` says where label i came from)."""
    if kind == "multilabel":
        return _multi_hot(labels, len(classlabel.names)), list(classlabel.names)
    column = f"label column {label_column!r}"
    targets = integer_labels(labels, column, unlabeled=unlabeled, name=name)
    names = classlabel.names if classlabel is not None else None
    return targets, class_names(names, int(targets.max(initial=-1)) + 1, f"column {label_column!r}")


class HFDatasetSource:
    """One split of a Hugging Face dataset (`Dataset`, not `DatasetDict`)."""

    encoded = True

    def __init__(self, dataset, *, image_column: str | None = None, label_column: str | None = None,
                 unlabeled: bool = False):
        from datasets import Image

        self.image_column, self.label_column, kind, classlabel = pick_columns(dataset.features, image_column,
                                                                              label_column)
        self.name = getattr(dataset.info, "dataset_name", None) or "HF dataset"
        self._images = dataset.cast_column(self.image_column, Image(decode=False)).select_columns(
            [self.image_column])
        labels = dataset.select_columns([self.label_column])[self.label_column]
        column = f"label column {self.label_column!r}"
        self.targets, self.classes = targets_and_classes(labels, kind, classlabel, self.label_column,
                                                         unlabeled=unlabeled, name=lambda i: f"{column} row {i}")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        base = getattr(dataset, "_fingerprint", None)
        self.fingerprint = f"hf:{base}:{self.image_column}" if base else None
        files = getattr(dataset, "cache_files", None) or []
        self.data_dir = os.path.dirname(files[0]["filename"]) if files else None

    def __len__(self) -> int:
        return len(self._images)

    def _bytes(self, cell, index: int) -> bytes:
        if isinstance(cell, dict):
            if cell.get("bytes"):
                return cell["bytes"]
            if cell.get("path"):
                try:
                    with open(cell["path"], "rb", buffering=0) as f:  # unbuffered: one read of the whole file
                        return f.read()
                except OSError as err:
                    raise SourceError(f"{self.describe(index)}: cannot read {cell['path']}: {err}") from None
        raise SourceError(f"{self.describe(index)}: the cell holds no encoded image (neither bytes nor a path)")

    def read(self, index: int) -> bytes:
        return self._bytes(self._images[int(index)][self.image_column], index)

    def read_batch(self, indices) -> list[bytes]:
        """Columnar fetch: several times faster per sample than row by row."""
        cells = self._images[[int(i) for i in indices]][self.image_column]
        return [self._bytes(cell, int(i)) for cell, i in zip(cells, indices)]

    def describe(self, index: int) -> str:
        return f"{self.name} row {index} (column {self.image_column!r})"

    def __repr__(self) -> str:
        return (f"HFDatasetSource({self.name!r}, rows={len(self)}, image={self.image_column!r}, "
                f"label={self.label_column!r}, classes={len(self.classes)})")


def _multi_hot(rows, num_classes: int) -> np.ndarray:
    """Per-row lists of class indices (or COCO-style dicts of them) -> (N, K) float32 multi-hot."""
    out = np.zeros((len(rows), num_classes), dtype=np.float32)
    for r, row in enumerate(rows):
        if isinstance(row, dict):
            row = row.get("category", row.get("label", []))
        elif row and isinstance(row[0], dict):
            row = [obj.get("category", obj.get("label")) for obj in row]
        out[r, np.asarray(row, dtype=np.int64)] = 1.0
    return out
