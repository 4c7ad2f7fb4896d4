"""Label checks shared by the sources: integer class indices and class-name lists.

A label is checked where it is read, and a bad one is named by where it came from (a shard member,
a dataset row, a sample of an array): negative indices, values beyond int64, labels past the class
names. -1 is the unlabeled marker, admitted only with `unlabeled=True`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import SourceError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def integer_labels(values, where: str, *, unlabeled: bool = False,
                   name: Callable[[int], str] | None = None) -> np.ndarray:
    """(N,) int64 class indices; refuses floats with fractions, strings, values beyond int64, anything
    not 1-D, and negatives (-1 with `unlabeled=True` apart). `name(i)` says where label i came from."""
    name = name or (lambda i: f"{where}: sample {i}")
    array = np.asarray(values)
    if array.ndim != 1:
        raise SourceError(f"{where}: expected one integer label per sample, got shape {array.shape}")
    if array.dtype == object:  # Python ints too large for int64, or mixed types
        for i, value in enumerate(array.tolist()):
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                raise SourceError(f"{name(i)} holds {value}, which does not fit in a 64-bit integer")
    if array.dtype.kind in "iu" or array.dtype == np.bool_:
        if array.dtype == np.uint64 and array.size and array.max() > INT64_MAX:
            i = int(np.argmax(array > INT64_MAX))
            raise SourceError(f"{name(i)} holds {array[i]}, which does not fit in a 64-bit integer")
        labels = array.astype(np.int64)
    elif array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        labels = array.astype(np.int64)
    else:
        raise SourceError(f"{where}: labels must be integer class indices, got dtype {array.dtype} "
                          f"(first values {array[:3].tolist()})")
    check_class_indices(labels, name, unlabeled=unlabeled)
    return labels


def check_class_indices(labels: np.ndarray, name: Callable[[int], str], *, unlabeled: bool = False,
                        num_classes: int | None = None, names_from: str = "") -> None:
    """Refuse negative labels (-1 unless `unlabeled`) and, given `num_classes`, labels past it."""
    bad = (labels < -1) | ((labels == -1) & (not unlabeled))
    if bad.any():
        i = int(np.argmax(bad))
        if labels[i] == -1:
            count = int((labels == -1).sum())
            raise SourceError(f"{name(i)} holds -1 (unlabeled; {count} of {labels.size} labels are -1): pass "
                              "unlabeled=True to load an unlabeled split such as imagenet-1k's test split "
                              "(its labels stay -1)")
        raise SourceError(f"{name(i)} holds {labels[i]}: a class index must be >= 0")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        i = int(np.argmax(labels >= num_classes))
        raise SourceError(f"{name(i)} holds label {labels[i]} but {names_from} has {num_classes} names")


def class_names(given, count: int, where: str) -> list[str]:
    """The given names (checked against `count`), else "0", "1", ..."""
    if given is None:
        return [str(i) for i in range(count)]
    names = [str(n) for n in given]
    if len(names) < count:
        raise SourceError(f"{where}: {len(names)} class names for labels up to {count - 1}")
    return names
