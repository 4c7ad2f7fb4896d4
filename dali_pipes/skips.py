"""The bookkeeping of unreadable images under `make_loader(on_error="skip")`: warn once per image,
count per epoch, report at the epoch's end."""

from __future__ import annotations

import logging
import warnings

log = logging.getLogger("dali_pipes")


class SkippedImageWarning(UserWarning):
    """An unreadable image was left out of its batch (make_loader(on_error="skip"))."""


class SkipLog:
    def __init__(self):
        self.skipped: dict[str, str] = {}  # every unreadable image met so far: name -> why
        self.last_epoch = 0  # how many the latest finished epoch left out
        self._epoch: set[str] = set()

    def begin_epoch(self) -> None:
        self._epoch = set()

    def note(self, where: str, reason: str) -> None:
        if where not in self.skipped:
            warnings.warn(f"skipping unreadable image {where}: {reason}", SkippedImageWarning, stacklevel=3)
            self.skipped[where] = reason
        self._epoch.add(where)

    def end_epoch(self, epoch: int, dataset_size: int) -> None:
        self.last_epoch = len(self._epoch)
        if self._epoch:
            message = (f"epoch {epoch}: {len(self._epoch)} unreadable image(s) left out "
                       f"(loader.skipped lists them); {dataset_size} samples in the dataset")
            log.warning("dali-pipes: %s", message)
            warnings.warn(message, SkippedImageWarning, stacklevel=3)
