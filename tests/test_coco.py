"""COCO as multi-label classification: instances JSON + images, and the HF detection layout."""

from __future__ import annotations

import json

import pytest
import torch

from dali_pipes import CocoSource, SourceError, make_loader

from . import factories
from .conftest import CPU_BACKENDS, collect


def multi_hot(indices, k=3):
    return [1.0 if c in indices else 0.0 for c in range(k)]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("train", [True, False])
def test_instances_json_gives_multi_hot_targets_in_coco_order(tmp_path, backend, train):
    annotations, images, expected = factories.coco_folder(tmp_path)
    source = CocoSource(annotations, images)
    assert source.classes == ["person", "car", "toothbrush"]  # sorted by category id: 1, 3, 90
    with make_loader(source, train=train, batch_size=4, backend=backend, seed=0, num_threads=2) as loader:
        identities, labels, sizes = collect(loader)
        images_batch, target = next(iter(loader))
    assert sorted(identities) == list(range(9)) and sizes == [4, 4, 1]
    assert labels == [multi_hot(expected[i]) for i in identities]
    assert target.dtype == torch.float32 and target.shape == (4, 3)
    assert images_batch.shape == (4, 3, 224, 224)


def test_images_without_objects_kept_or_dropped(tmp_path):
    annotations, images, expected = factories.coco_folder(tmp_path)
    kept = CocoSource(annotations, images)
    dropped = CocoSource(annotations, images, empty="drop")
    assert len(kept) == 9 and kept.targets[2].sum() == 0
    assert len(dropped) == 7 and dropped.targets.sum(axis=1).min() >= 1
    assert [p.name for p in dropped.paths] == [f"{i:012d}.jpg" for i in range(9) if i not in (2, 5)]


def test_missing_image_files_are_named(tmp_path):
    annotations, images, _ = factories.coco_folder(tmp_path)
    (images / "000000000004.jpg").unlink()
    with pytest.raises(SourceError, match="name 1 image file.*000000000004.jpg"):
        CocoSource(annotations, images)


def test_bad_annotation_files(tmp_path):
    annotations, images, _ = factories.coco_folder(tmp_path)
    data = json.loads(annotations.read_text())
    data["annotations"].append({"id": 999, "image_id": 1, "category_id": 1})
    annotations.write_text(json.dumps(data))
    with pytest.raises(SourceError, match="annotation 999 names image 1"):
        CocoSource(annotations, images)
    annotations.write_text("{not json")
    with pytest.raises(SourceError, match="not valid JSON"):
        CocoSource(annotations, images)
    annotations.write_text(json.dumps({"images": []}))
    with pytest.raises(SourceError, match="no 'annotations' list"):
        CocoSource(annotations, images)
    with pytest.raises(SourceError, match="empty must be one of"):
        CocoSource(annotations, images, empty="skip")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_hugging_face_coco_layout_is_multi_label(backend):
    ds, expected = factories.coco_hf()
    with make_loader(ds, train=False, batch_size=9, backend=backend, num_threads=2) as loader:
        assert loader.dataset.label_column == "objects"
        assert loader.dataset.classes == ["person", "car", "toothbrush"]
        identities, labels, _ = collect(loader)
    assert identities == list(range(9))
    assert labels == [multi_hot(expected[i]) for i in identities]
