"""What every source provides: encoded bytes, an integer label and a name for error messages.

Both backends read samples through this one interface, so the order, the labels and the checks
on the bytes are the same whichever engine decodes them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Protocol

import numpy as np

from ..errors import ImageDecodeError, SourceError

# Leading bytes of the formats that DALI's decoder and torchvision/PIL both read.
_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"P1", "pnm"), (b"P2", "pnm"), (b"P3", "pnm"), (b"P4", "pnm"), (b"P5", "pnm"), (b"P6", "pnm"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format named by the leading bytes, or None when they name no format we decode."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def files_fingerprint(kind: str, files: Iterable[tuple[str | os.PathLike, str]]) -> str:
    """Changes when a file is added, removed, renamed, relabelled, resized or rewritten: the key of
    cached statistics. `files` holds (path, the name and label it is known by)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path, key in files:
        stat = os.stat(path)
        digest.update(f"{key}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return f"{kind}:{digest.hexdigest()}"


def check_encoded(data: bytes, where: str) -> str:
    """Cheap checks done before decoding: an empty file or unknown signature fails here, by name."""
    if len(data) == 0:
        raise ImageDecodeError(where, "the file is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageDecodeError(where, f"not a known image format (first bytes {bytes(data[:8])!r})")
    return fmt


class Source(Protocol):
    """A random-access, labelled collection of images.

    `targets` is a numpy array: int64 class indices of shape (N,), or float32 multi-hot vectors of
    shape (N, K) for multi-label data. `encoded` says whether `read` returns encoded bytes (for a
    decoder) or an HWC uint8 RGB array.

    Optional capabilities, each used through the function of the same name below (which falls back
    when a source lacks it, so a source of your own needs only the members declared here):
    `read_batch(indices)` (a batch at once: columnar or concurrent; a failed sample's exception in
    its place), `fingerprint` (a string that changes with the data: the key of cached statistics) and
    `data_dir` (the folder for caches beside the data).
    """

    classes: list[str]
    class_to_idx: dict[str, int]
    targets: np.ndarray
    encoded: bool

    def __len__(self) -> int: ...

    def read(self, index: int) -> bytes | np.ndarray:
        """The encoded image bytes (or HWC uint8 array) of sample `index`."""

    def describe(self, index: int) -> str:
        """Where sample `index` comes from (a path), for error messages."""


def has_batch_reads(source) -> bool:
    """Whether the source reads a batch better than sample by sample (columnar, or concurrent itself)."""
    return getattr(source, "read_batch", None) is not None


def read_batch(source, indices) -> list:
    """The samples of `indices`: the source's own batched read, else one by one (raising at the first
    that fails)."""
    batched = getattr(source, "read_batch", None)
    return batched(indices) if batched is not None else [source.read(int(i)) for i in indices]


def start_epoch(source, plan, epoch: int, first_batch: int) -> None:
    """Tell a source that reads positions in order (`start_epoch`: sources.stream) that `epoch`
    starts, at the first position of the plan's batch `first_batch` (a resume) or past the end."""
    begin = getattr(source, "start_epoch", None)
    if begin is not None:
        batches = plan.batches(epoch)
        begin(epoch, int(batches[first_batch][0]) if first_batch < len(batches) else len(source))


class ProcessLocal:
    """A source whose locks, caches, iterators and threads belong to one process: `_reset` makes
    them; a pickled copy (a DataLoader worker, a spawned process) leaves the `_LOCAL` ones behind
    and makes its own."""

    _LOCAL: tuple[str, ...] = ()

    def _reset(self) -> None:
        raise NotImplementedError

    def __getstate__(self):
        return {key: value for key, value in self.__dict__.items() if key not in self._LOCAL}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()


def source_fingerprint(source) -> str | None:
    return getattr(source, "fingerprint", None)


def source_data_dir(source):
    return getattr(source, "data_dir", None)


# What a path or a URL holds, from the names directly under it
HF_MARKERS = ("state.json", "dataset_info.json")  # datasets' save_to_disk


def detect_layout(location: str, names) -> str:
    """"hf" (a saved Hugging Face dataset), "parquet" (`.parquet` files), "webdataset" (`.tar`
    shards: the location itself or names under it) or "folder" (an ImageFolder tree), for a local
    path or a URL alike."""
    names = set(names)
    if all(marker in names for marker in HF_MARKERS):
        return "hf"
    if location.rstrip("/").endswith(".parquet") or any(name.endswith(".parquet") for name in names):
        return "parquet"
    if location.rstrip("/").endswith(".tar") or any(name.endswith(".tar") for name in names):
        return "webdataset"
    return "folder"


def refuse_folder_options(options: dict) -> None:
    if options:
        raise SourceError(f"source options {sorted(options)} do not apply to an ImageFolder tree")
