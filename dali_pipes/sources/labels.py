"""Label checks shared by the sources: integer class indices and class-name lists."""

from __future__ import annotations

import numpy as np

from ..errors import SourceError


def integer_labels(values, where: str) -> np.ndarray:
    """(N,) int64 class indices; refuses floats with fractions, strings, and anything not 1-D."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise SourceError(f"{where}: expected one integer label per sample, got shape {array.shape}")
    if array.dtype.kind in "iu" or array.dtype == np.bool_:
        return array.astype(np.int64)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    raise SourceError(f"{where}: labels must be integer class indices, got dtype {array.dtype} "
                      f"(first values {array[:3].tolist()})")


def class_names(given, count: int, where: str) -> list[str]:
    """The given names (checked against `count`), else "0", "1", ..."""
    if given is None:
        return [str(i) for i in range(count)]
    names = [str(n) for n in given]
    if len(names) < count:
        raise SourceError(f"{where}: {len(names)} class names for labels up to {count - 1}")
    return names
