"""What every source provides: encoded bytes, an integer label and a name for error messages.

Both backends read samples through this one interface, so the order, the labels and the checks
on the bytes are the same whichever engine decodes them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Protocol

import numpy as np

from ..errors import ImageDecodeError

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
