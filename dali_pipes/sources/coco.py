"""COCO as multi-label classification: each image's target is a multi-hot vector over the
categories in COCO's order (sorted by category id), from an instances annotations JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import SourceError
from .base import files_fingerprint

EMPTY_POLICIES = ("keep", "drop")


class CocoSource:
    encoded = True

    def __init__(self, annotations: str | os.PathLike, images: str | os.PathLike, *, empty: str = "keep"):
        if empty not in EMPTY_POLICIES:
            raise SourceError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")
        annotations, self.image_dir = Path(annotations), Path(images)
        try:
            data = json.loads(annotations.read_text())
        except OSError as err:
            raise SourceError(f"cannot read COCO annotations {annotations}: {err.strerror or err}") from None
        except ValueError as err:
            raise SourceError(f"COCO annotations {annotations} are not valid JSON: {err}") from None
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise SourceError(f"COCO annotations {annotations} have no {key!r} list (keys: {sorted(data)})")
        categories = sorted(data["categories"], key=lambda c: c["id"])
        self.classes = [c["name"] for c in categories]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        column = {c["id"]: i for i, c in enumerate(categories)}
        row = {img["id"]: r for r, img in enumerate(data["images"])}
        targets = np.zeros((len(data["images"]), len(categories)), dtype=np.float32)
        for ann in data["annotations"]:
            if ann["image_id"] not in row or ann["category_id"] not in column:
                raise SourceError(f"COCO annotations {annotations}: annotation {ann.get('id')} names "
                                  f"image {ann['image_id']} / category {ann['category_id']}, which are not listed")
            targets[row[ann["image_id"]], column[ann["category_id"]]] = 1.0
        keep = np.ones(len(targets), bool) if empty == "keep" else targets.any(axis=1)
        self.paths = [self.image_dir / img["file_name"] for img, k in zip(data["images"], keep) if k]
        self.image_ids = [img["id"] for img, k in zip(data["images"], keep) if k]
        self.targets = targets[keep]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise SourceError(f"COCO annotations {annotations} name {len(missing)} image file(s) that do not "
                              f"exist, e.g. {', '.join(missing[:3])}")

    @property
    def data_dir(self) -> Path:
        return self.image_dir

    @property
    def fingerprint(self) -> str:
        return files_fingerprint("coco", ((path, path.name) for path in self.paths))

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> bytes:
        with open(self.paths[index], "rb", buffering=0) as f:  # unbuffered: one read of the whole file
            return f.read()

    def describe(self, index: int) -> str:
        return str(self.paths[index])

    def __repr__(self) -> str:
        return f"CocoSource({str(self.image_dir)!r}, images={len(self)}, categories={len(self.classes)})"
