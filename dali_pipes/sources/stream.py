"""A `datasets.IterableDataset` that is not parquet files as stored (a generator, a map, a filter),
read through its own iteration: the weaker guarantees of streaming, stated here and warned once.

- Order: the dataset's own (`shuffle(seed, buffer_size)` for training, then `set_epoch`): a
  function of (seed, epoch), but of the shuffle buffer too, not one permutation of the whole set.
- Ranks: `datasets.distributed.split_dataset_by_node`: whole shards per rank when the shard count
  divides the world size, otherwise every rank reads every example and keeps 1 in N. Every rank
  yields the same number of samples (`shard_padding`: "pad" cycles a short stream, "drop" cuts to
  the smallest share), so DDP cannot hang; a rank whose stream holds more than its share leaves the
  rest out.
- Resume: exact, by reading again (without decoding) the examples before the resumed batch.
- Reading: one stream per loader, in the training process (the torchvision backend runs it without
  worker processes: workers would each read the whole stream).
- Length: the split's example count from the dataset's info, or `num_samples=`.
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np

from ..errors import SourceError
from .base import ProcessLocal
from .hf import pick_columns

SHUFFLE_BUFFER = 4096  # timm's hfids default
HELD = 4096  # rows pulled ahead of the positions asked for, at most (read-ahead asks out of order)
_warned = False


class StreamedSource(ProcessLocal):
    """Reads positions 0, 1, 2, ... of this rank's stream of an epoch, in order (`sequential`)."""

    encoded = True
    sequential = True  # positions are read in order, by one process
    _LOCAL = ("_lock", "_iterator", "_held")

    def __init__(self, dataset, *, num_samples: int | None = None, image_column: str | None = None,
                 label_column: str | None = None, unlabeled: bool = False, buffer_size: int = SHUFFLE_BUFFER):
        from datasets import Image

        global _warned
        features = dataset.features
        if features is None:
            raise SourceError("this IterableDataset does not declare its features: give it features= (an Image "
                              "column and a ClassLabel or int label)")
        self.image_column, self.label_column, kind, classlabel = pick_columns(features, image_column, label_column)
        if kind == "multilabel":
            raise SourceError(f"label column {self.label_column!r} is {features[self.label_column]!r}; a streamed "
                              "dataset needs integer class indices (ClassLabel or int)")
        self.num_total = num_samples or _split_size(dataset)
        if not self.num_total:
            raise SourceError("the length of this IterableDataset is unknown (its info gives no example count): "
                              "pass StreamedSource(dataset, num_samples=N)")
        self.classes = list(classlabel.names) if classlabel is not None else []  # int labels: unknown until read
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.unlabeled = unlabeled
        self.buffer_size = buffer_size
        self._dataset = dataset.cast_column(self.image_column, Image(decode=False))
        self.name = getattr(dataset.info, "dataset_name", None) or "streamed dataset"
        self.bind(0, 1, "pad", seed=0, shuffle=False)
        if not _warned:
            _warned = True
            warnings.warn("dali-pipes reads this IterableDataset through its own iteration: its shuffle buffer's "
                          "order, split_dataset_by_node's division among ranks, and a resume that reads the skipped "
                          "examples again (docs/usage.md, 'Parquet and streaming'). Parquet files as stored get an "
                          "exact order and division instead.", stacklevel=3)

    def bind(self, shard_id: int, num_shards: int, padding: str, *, seed: int, shuffle: bool) -> int:
        """This rank's stream; returns how many samples it yields per epoch (the same on every rank)."""
        from datasets.distributed import split_dataset_by_node

        stream = self._dataset.shuffle(seed=seed, buffer_size=self.buffer_size) if shuffle else self._dataset
        if num_shards > 1:
            stream = split_dataset_by_node(stream, rank=shard_id, world_size=num_shards)
        self._stream = stream
        self.share = math.ceil(self.num_total / num_shards) if padding == "pad" else self.num_total // num_shards
        self.targets = np.full(self.share, -1 if self.unlabeled else 0, dtype=np.int64)
        self._reset()
        return self.share

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._epoch, self._iterator, self._next, self._held = 0, None, 0, {}

    def __len__(self) -> int:
        return self.share

    def start_epoch(self, epoch: int, first: int = 0) -> None:
        """The engines call this as an epoch starts (at position `first` when resuming)."""
        with self._lock:
            self._drop_iterator()
            self._epoch, self._next, self._held = epoch, 0, {}
            self._skip_to(min(first, self.share))

    def _drop_iterator(self) -> None:
        """Close the stream's iterator off this thread: `datasets` waits 5 s when one over parquet
        files with reader threads is closed (apache/arrow#45214)."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None and hasattr(iterator, "close"):
            threading.Thread(target=iterator.close, name="dali-pipes-stream-close", daemon=True).start()

    def _pull(self):
        """The stream's next example; a short stream starts again (its repeats pad the share)."""
        if self._iterator is None:
            self._stream.set_epoch(self._epoch)
            self._iterator = iter(self._stream)
        try:
            return next(self._iterator)
        except StopIteration:
            if self._next == 0:
                raise SourceError(f"{self.name}: the stream of this rank is empty") from None
            self._iterator = iter(self._stream)
            return next(self._iterator)

    def _skip_to(self, position: int) -> None:
        while self._next < position:
            self._pull()
            self._next += 1

    def read_batch(self, indices) -> list:
        """The samples at these positions of this epoch's stream; an earlier position than the
        stream has passed starts the epoch's stream again."""
        with self._lock:
            wanted = [int(i) for i in indices]
            if any(i < self._next and i not in self._held for i in wanted):
                self._drop_iterator()
                self._next, self._held = 0, {}
            while self._next <= max(wanted):
                row = self._pull()
                self._held[self._next] = row
                self._next += 1
            out = []
            for i in wanted:
                row = self._held.pop(i)
                label = row[self.label_column]
                self.targets[i] = -1 if label is None else int(label)
                if self.targets[i] < 0 and not self.unlabeled:
                    out.append(SourceError(f"{self.describe(i)} has label {label}: pass unlabeled=True for an "
                                           "unlabeled split"))
                    continue
                data = _encoded(row[self.image_column])
                out.append(data if data else SourceError(f"{self.describe(i)}: no encoded image bytes"))
            while len(self._held) > max(HELD, 16 * len(wanted)):  # rows asked for by another process
                del self._held[min(self._held)]
            if self._next >= self.share and not self._held:  # the epoch's share is read
                self._drop_iterator()
            return out

    def read(self, index: int) -> bytes:
        data = self.read_batch([index])[0]
        if isinstance(data, SourceError):
            raise data
        return data

    def describe(self, index: int) -> str:
        return f"{self.name}: example {index} of this rank's stream of an epoch (column {self.image_column!r})"

    def __repr__(self) -> str:
        return f"StreamedSource({self.name!r}, samples={self.num_total}, share={self.share})"


def _encoded(cell) -> bytes | None:
    """The cell's encoded bytes: as stored, or a PIL image (what a `map` hands on) encoded as PNG,
    which keeps its pixels."""
    if isinstance(cell, dict):
        return cell.get("bytes")
    if hasattr(cell, "save") and hasattr(cell, "mode"):
        import io

        buffer = io.BytesIO()
        cell.convert("RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()
    return None


def _split_size(dataset) -> int | None:
    splits = getattr(dataset.info, "splits", None) or {}
    split = getattr(dataset, "split", None)
    info = splits.get(str(split)) if split is not None else None
    return getattr(info, "num_examples", None) or None
