"""Hugging Face datasets in their real schemas (cifar10, cifar100, imagenet-1k), both backends."""

from __future__ import annotations

import pytest

from dali_pipes import SourceError, make_loader

from . import factories
from .conftest import collect


def check_epochs(loader, expected_label_of, epochs=2):
    for _ in range(epochs):
        identities, labels, sizes = collect(loader, mean=loader.preprocess.normalize.mean,
                                            std=loader.preprocess.normalize.std)
        assert sorted(identities) == sorted(expected_label_of)
        assert labels == [expected_label_of[i] for i in identities]
    return sizes


def test_cifar10_schema(backend):
    ds = factories.cifar10(23)
    with make_loader(ds, train=True, batch_size=5, backend=backend, preset="cifar10", seed=0,
                     num_threads=2) as loader:
        assert loader.dataset.classes == factories.CIFAR10_NAMES
        assert loader.dataset.image_column == "img" and loader.dataset.label_column == "label"
        images, _ = next(iter(loader))
        assert images.shape == (5, 3, 32, 32)
    with make_loader(ds, train=False, batch_size=5, backend=backend, preset="cifar10", num_threads=2) as loader:
        sizes = check_epochs(loader, {i: (7 * i) % 10 for i in range(23)})
    assert sizes == [5, 5, 5, 5, 3]


def test_cifar100_fine_by_default_coarse_on_request(backend):
    ds = factories.cifar100(23)
    with make_loader(ds, train=False, batch_size=8, backend=backend, preset="cifar100", num_threads=2) as loader:
        assert loader.dataset.label_column == "fine_label" and len(loader.dataset.classes) == 100
        check_epochs(loader, {i: (37 * i) % 100 for i in range(23)}, epochs=1)
    with make_loader(ds, train=True, batch_size=8, backend=backend, preset="cifar100", seed=1,
                     label_column="coarse_label", num_threads=2) as loader:
        assert loader.dataset.classes == [f"coarse{i}" for i in range(20)]
        check_epochs(loader, {i: (37 * i) % 100 // 5 for i in range(23)}, epochs=1)


def test_imagenet_schema_with_jpeg_of_odd_sizes(backend):
    ds = factories.imagenet(17)
    with make_loader(ds, train=True, batch_size=4, backend=backend, seed=2, num_threads=2) as loader:
        assert loader.dataset.image_column == "image" and len(loader.dataset.classes) == 1000
        assert loader.dataset.classes[3] == "n00000003"
        images, labels = next(iter(loader))
        assert images.shape == (4, 3, 224, 224)
        check_epochs(loader, {i: (131 * i) % 1000 for i in range(17)})


def test_unlabeled_split_is_refused_unless_asked_for(backend):
    ds = factories.imagenet(5, unlabeled=True)
    unlabeled = r"label column 'label' row 0 holds -1 \(unlabeled; 5 of 5 labels are -1\).*unlabeled=True"
    with pytest.raises(SourceError, match=unlabeled):
        make_loader(ds, train=False, batch_size=2, backend=backend)
    with make_loader(ds, train=False, batch_size=5, backend=backend, unlabeled=True, num_threads=2) as loader:
        _, labels = next(iter(loader))
    assert labels.tolist() == [-1] * 5


def test_set_epoch_shuffle_len_and_drop_last_as_for_folders(backend):
    ds = factories.cifar10(23)

    def order(epoch, drop_last=False):
        with make_loader(ds, train=True, batch_size=5, backend=backend, preset="cifar10", seed=3,
                         drop_last=drop_last, num_threads=2) as loader:
            loader.set_epoch(epoch)
            identities, _, sizes = collect(loader, mean=loader.preprocess.normalize.mean,
                                           std=loader.preprocess.normalize.std)
            return identities, sizes, len(loader)

    assert order(1) == order(1)
    assert order(1)[0] != order(2)[0]
    identities, sizes, length = order(1, drop_last=True)
    assert sizes == [5] * 4 and length == 4 and identities == order(1)[0][:20]


def test_saved_to_disk_and_parquet_files(tmp_path, backend):
    from datasets import load_dataset

    ds = factories.cifar10(12)
    ds.save_to_disk(str(tmp_path / "saved"))
    with make_loader(tmp_path / "saved", train=False, batch_size=12, backend=backend, preset="cifar10",
                     num_threads=2) as loader:
        check_epochs(loader, {i: (7 * i) % 10 for i in range(12)}, epochs=1)
    ds.to_parquet(str(tmp_path / "train.parquet"))
    parquet = load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train",
                           cache_dir=str(tmp_path / "cache"))
    with make_loader(parquet, train=False, batch_size=12, backend=backend, preset="cifar10",
                     num_threads=2) as loader:
        assert loader.dataset.classes == factories.CIFAR10_NAMES
        check_epochs(loader, {i: (7 * i) % 10 for i in range(12)}, epochs=1)


def test_missing_columns_list_what_the_dataset_has():
    ds = factories.cifar10(3)
    missing = r"image column 'picture' is not in the dataset; its columns: \['img', 'label'\]"
    with pytest.raises(SourceError, match=missing):
        make_loader(ds, train=True, batch_size=2, image_column="picture")
    with pytest.raises(SourceError, match=r"found no label column; the dataset has columns \['img'\]"):
        make_loader(ds.remove_columns("label"), train=True, batch_size=2)
    with pytest.raises(SourceError, match=r"found no image column; the dataset has columns \['label'\]"):
        make_loader(ds.remove_columns("img"), train=True, batch_size=2)


def test_a_label_column_that_is_not_integer_like():
    from datasets import Value

    ds = factories.cifar10(3).cast_column("label", Value("string"))
    with pytest.raises(SourceError, match="label column 'label'.*expected integer class indices"):
        make_loader(ds, train=True, batch_size=2, label_column="label")
    floats = factories.cifar10(3).cast_column("label", Value("float32")).map(lambda r: {"label": r["label"] + 0.5})
    with pytest.raises(SourceError, match="label column 'label'"):
        make_loader(floats, train=True, batch_size=2, label_column="label")


def test_an_image_cell_that_is_not_an_image(backend):
    from datasets import Dataset

    from dali_pipes import ImageDecodeError

    features = factories.cifar10(1).features
    cells = [{"bytes": b"not an image" if i == 4 else factories.encode(i, "PNG"), "path": None} for i in range(6)]
    bad = Dataset.from_dict({"img": cells, "label": [0] * 6}, features=features)
    loader = make_loader(bad, train=False, batch_size=3, backend=backend, preset="cifar10", num_threads=2)
    with pytest.raises(ImageDecodeError, match=r"row 4 \(column 'img'\)"):
        for _ in loader:
            pass
    loader.close()


def test_a_column_that_is_not_an_image_feature():
    with pytest.raises(SourceError, match="column 'label' is ClassLabel, not an Image feature"):
        make_loader(factories.cifar10(3), train=True, batch_size=2, image_column="label")


def test_a_dataset_dict_asks_for_a_split():
    from datasets import DatasetDict

    with pytest.raises(SourceError, match=r"DatasetDict with splits \['test', 'train'\]; pass one split"):
        make_loader(DatasetDict(train=factories.cifar10(2), test=factories.cifar10(2)), train=True, batch_size=2)


def test_cells_that_hold_a_path_instead_of_bytes(tmp_path, backend):
    from datasets import Dataset

    features = factories.cifar10(1).features
    cells = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        path.write_bytes(factories.encode(i, "PNG"))
        cells.append({"bytes": None, "path": str(path)})
    ds = Dataset.from_dict({"img": cells, "label": list(range(5))}, features=features)
    with make_loader(ds, train=False, batch_size=5, backend=backend, preset="cifar10", num_threads=2) as loader:
        check_epochs(loader, {i: i for i in range(5)}, epochs=1)
    (tmp_path / "3.png").unlink()
    with pytest.raises(SourceError, match=r"row 3 \(column 'img'\): cannot read .*3.png"):
        with make_loader(ds, train=False, batch_size=5, backend=backend, preset="cifar10", num_threads=2) as loader:
            next(iter(loader))
