"""Exceptions that carry the place a problem came from (file, column, field)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the field and what is allowed."""


class ImageDecodeError(ValueError):
    """An encoded image could not be read or decoded; `where` names the file (or row)."""

    def __init__(self, where: str, reason: str | None = None):
        # One-argument form: DataLoader re-raises a worker's exception as `type(exc)(message)`.
        super().__init__(where if reason is None else f"cannot decode image {where}: {reason}")
        self.where = where
        self.reason = reason


class SourceError(ValueError):
    """A data source is unusable as given (missing path, no classes, no images)."""
