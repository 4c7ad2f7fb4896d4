"""Turns what the user passed to `make_loader` into a `Source`."""

from __future__ import annotations

import os

from ..errors import SourceError
from .base import Source, check_encoded, sniff_format
from .folder import ImageFolderSource

__all__ = ["Source", "ImageFolderSource", "resolve_source", "check_encoded", "sniff_format"]


def resolve_source(source) -> Source:
    """A path is an ImageFolder tree; a ready Source object passes through."""
    if isinstance(source, (str, os.PathLike)):
        return ImageFolderSource(source)
    if all(hasattr(source, attr) for attr in ("read", "describe", "classes", "targets", "__len__")):
        return source
    raise SourceError(
        f"unsupported source {type(source).__name__}: pass the path of an ImageFolder tree "
        "(ROOT/CLASS_NAME/IMAGE) or a dali_pipes Source"
    )
