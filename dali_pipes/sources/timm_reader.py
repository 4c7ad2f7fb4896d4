"""A timm `ImageDataset` (from `timm.data.create_dataset`: folder, tar and HF readers) as a Source:
its reader's own sample list and labels, read as encoded bytes; its transforms are not used (the
loader's preprocessing replaces them). timm's streamed `hfids/` datasets are read through their
parquet files (`sources.parquet`)."""

from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import SourceError


def is_timm_dataset(obj) -> bool:
    return type(obj).__module__.startswith("timm.") and hasattr(obj, "reader")


def timm_source(dataset):
    """The Source of a timm dataset: its reader's samples, or for timm's `hfids/` (a streamed Hub
    dataset, `ReaderHfids`) the parquet files that stream holds, read with its columns (exact order,
    ranks and resume instead of its shuffle buffer and per-rank skipping)."""
    reader = dataset.reader
    if type(reader).__name__ != "ReaderHfids":
        return TimmDatasetSource(dataset)
    if getattr(reader, "remap_class", False) or getattr(reader, "target_keys", None):
        raise SourceError("timm hfids/ dataset with a class_map or several target keys: not provided; pass the "
                          "dataset's parquet files (or load_dataset(..., streaming=True)) with label_column=")
    from .parquet import iterable_source

    streamed = reader.builder.as_streaming_dataset(split=reader.split)
    return iterable_source(streamed, image_column=reader.input_key, label_column=reader.target_key)


class TimmDatasetSource:
    """Samples of a timm ImageDataset's reader, in its order, with its class map."""

    encoded = True

    def __init__(self, dataset):
        self.dataset = dataset
        self.reader = dataset.reader
        n = len(self.reader)
        if n == 0:
            raise SourceError(f"timm dataset {dataset!r} has no samples")
        self.targets = _targets(self.reader, n)
        if self.targets.ndim != 1:
            raise SourceError(f"timm dataset {dataset!r}: labels of shape {self.targets.shape[1:]} per sample; "
                              "class indices expected")
        class_to_idx = dict(getattr(self.reader, "class_to_idx", None) or
                            getattr(self.reader, "class_name_to_idx", None) or {})
        self.classes = [name for name, _ in sorted(class_to_idx.items(), key=lambda kv: kv[1])]
        if not self.classes:  # a reader without a class map: the labels it has
            self.classes = [str(k) for k in range(int(self.targets.max()) + 1)]
        self.class_to_idx = {name: k for k, name in enumerate(self.classes)}
        # tar readers share open TarFile handles: one read at a time
        self._lock = threading.Lock() if "tar" in type(self.reader).__name__.lower() else None

    def __len__(self) -> int:
        return len(self.targets)

    def read(self, index: int) -> bytes:
        try:
            if self._lock is None:
                data = _bytes(self.reader[index][0])
            else:
                with self._lock:
                    data = _bytes(self.reader[index][0])
        except (OSError, KeyError, ValueError) as err:
            raise SourceError(f"cannot read {self.describe(index)}: {err}") from None
        return data

    def describe(self, index: int) -> str:
        try:
            return str(self.reader.filename(index, absolute=True))
        except Exception:  # noqa: BLE001 - a reader without file names: say which sample
            return f"sample {index} of {type(self.reader).__name__}"

    def __getstate__(self):  # DataLoader workers: the lock stays behind, a fresh one comes with the copy
        state = dict(self.__dict__)
        state["_lock"] = state["_lock"] is not None
        return state

    def __setstate__(self, state):
        state["_lock"] = threading.Lock() if state["_lock"] else None
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"TimmDatasetSource({type(self.reader).__name__}, samples={len(self)}, classes={len(self.classes)})"


def _bytes(item) -> bytes:
    if isinstance(item, (str, os.PathLike)):
        with open(item, "rb", buffering=0) as f:
            return f.read()
    if isinstance(item, bytes):
        return item
    try:
        return item.read()
    finally:
        close = getattr(item, "close", None)
        if close is not None:
            close()


def _targets(reader, n: int) -> np.ndarray:
    samples = getattr(reader, "samples", None)
    if samples is not None and len(samples) == n:
        return np.asarray([target for _, target in samples], dtype=np.int64)
    dataset, key = getattr(reader, "dataset", None), getattr(reader, "label_key", None)
    if dataset is not None and key is not None and not getattr(reader, "remap_class", False):
        return np.asarray(dataset[key], dtype=np.int64)  # an HF reader's label column
    return np.asarray([reader[k][1] for k in range(n)], dtype=np.int64)
