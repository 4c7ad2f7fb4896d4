"""Small datasets in the real public schemas, built locally (never downloaded).

Images carry their identity as a uniform colour (see conftest.identity_colour), so a test can
tell which sample each output came from.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import ODD_SIZES, identity_colour

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def encode(identity: int, fmt: str, size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size, 3), identity_colour(identity), dtype=np.uint8)).save(
        buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def cifar10(n: int = 23):
    """`cifar10`'s schema: img (PNG 32x32), label (ClassLabel, 10 names)."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as HFImage

    features = Features({"img": HFImage(), "label": ClassLabel(names=CIFAR10_NAMES)})
    return Dataset.from_dict({"img": [{"bytes": encode(i, "PNG"), "path": None} for i in range(n)],
                              "label": [(7 * i) % 10 for i in range(n)]}, features=features)


def cifar100(n: int = 23):
    """`cifar100`'s schema: img, fine_label (100 classes), coarse_label (20)."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as HFImage

    features = Features({"img": HFImage(), "fine_label": ClassLabel(names=[f"fine{i}" for i in range(100)]),
                         "coarse_label": ClassLabel(names=[f"coarse{i}" for i in range(20)])})
    return Dataset.from_dict({"img": [{"bytes": encode(i, "PNG"), "path": None} for i in range(n)],
                              "fine_label": [(37 * i) % 100 for i in range(n)],
                              "coarse_label": [(37 * i) % 100 // 5 for i in range(n)]}, features=features)


def imagenet(n: int = 17, unlabeled: bool = False):
    """`imagenet-1k`'s schema: image (JPEG, odd sizes), label (ClassLabel, 1000; -1 in test)."""
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as HFImage

    features = Features({"image": HFImage(), "label": ClassLabel(names=[f"n{i:08d}" for i in range(1000)])})
    images = [{"bytes": encode(i, "JPEG", ODD_SIZES[i % len(ODD_SIZES)]), "path": None} for i in range(n)]
    labels = [-1] * n if unlabeled else [(131 * i) % 1000 for i in range(n)]
    return Dataset.from_dict({"image": images, "label": labels}, features=features)


COCO_CATEGORIES = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]


def coco_folder(root: Path, n: int = 9) -> tuple[Path, Path, dict[int, list[int]]]:
    """A tiny instances JSON (category ids out of order, two images without objects) and its images.

    Returns (json path, image folder, identity -> indices of its categories in COCO order).
    """
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, annotations, expected = [], [], {}
    order = {1: 0, 3: 1, 90: 2}  # sorted by category id
    for i in range(n):
        (images_dir / f"{i:012d}.jpg").write_bytes(encode(i, "JPEG", ODD_SIZES[i % len(ODD_SIZES)]))
        images.append({"id": 1000 + i, "file_name": f"{i:012d}.jpg", "height": 0, "width": 0})
        cats = [] if i in (2, 5) else sorted({[1, 3, 90][i % 3], [1, 3, 90][(i * i) % 3]})
        for k, c in enumerate(cats):
            annotations.append({"id": 10 * i + k, "image_id": 1000 + i, "category_id": c,
                                "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0})
        expected[i] = sorted(order[c] for c in cats)
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}))
    return path, images_dir, expected


def coco_hf(n: int = 9):
    """The HF COCO detection layout: image, objects = [{bbox, category: ClassLabel}]."""
    from datasets import ClassLabel, Dataset, Features, List, Value
    from datasets import Image as HFImage

    names = ["person", "car", "toothbrush"]
    features = Features({"image": HFImage(),
                         "objects": List({"bbox": List(Value("float32"), length=4),
                                          "category": ClassLabel(names=names)})})
    rows, expected = [], {}
    for i in range(n):
        cats = [] if i == 3 else sorted({i % 3, (i + 1) % 3})
        rows.append([{"bbox": [0.0, 0.0, 1.0, 1.0], "category": c} for c in cats])
        expected[i] = cats
    data = {"image": [{"bytes": encode(i, "PNG", (20, 28)), "path": None} for i in range(n)], "objects": rows}
    return Dataset.from_dict(data, features=features), expected
