"""WebDataset shards: `convert` writes them, both backends read them like any other source."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dali_pipes import Preprocess, SourceError, TrainTransform, WebDatasetSource, make_loader
from dali_pipes.cli import main
from dali_pipes.sources import resolve_source

from . import factories
from .conftest import CPU_BACKENDS, collect


@pytest.fixture(scope="module")
def shards(tmp_path_factory, identity_folder):
    root, _ = identity_folder
    dst = tmp_path_factory.mktemp("wds") / "shards"
    assert main(["convert", str(root), str(dst), "--shard-size", "7", "--quiet"]) == 0
    return dst


def test_convert_writes_indexed_shards_and_class_names(shards, identity_folder):
    root, identity_to_class = identity_folder
    names = sorted(p.name for p in shards.iterdir())
    assert names == ["classes.txt"] + sorted(
        [f"shard-{k:06d}.tar" for k in range(4)] + [f"shard-{k:06d}.tar.dpidx.json" for k in range(4)])
    with tarfile.open(shards / "shard-000000.tar") as tar:
        members = tar.getnames()
    assert members[:2] == ["00000000.png", "00000000.cls"] and len(members) == 14
    assert (shards / "classes.txt").read_text().split() == ["ant", "cat", "dog"]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_shards_load_like_the_folder(shards, identity_folder, backend):
    root, identity_to_class = identity_folder
    with make_loader(shards, train=True, batch_size=5, backend=backend, seed=3, num_threads=2) as loader:
        assert isinstance(loader.dataset, WebDatasetSource)
        assert loader.dataset.classes == ["ant", "cat", "dog"] and len(loader) == 5
        for _ in range(2):
            identities, labels, sizes = collect(loader)
            assert sorted(identities) == sorted(identity_to_class)
            assert labels == [identity_to_class[i] for i in identities]
            assert sizes == [5, 5, 5, 5, 3]
    with make_loader(root, train=True, batch_size=5, backend=backend, seed=3, num_threads=2) as folder:
        # same sample order as the folder: shards keep ImageFolder's order, and the plan is shared
        with make_loader(shards, train=True, batch_size=5, backend=backend, seed=3, num_threads=2) as wds:
            assert collect(folder)[0] == collect(wds)[0]


def test_convert_from_a_hugging_face_dataset(tmp_path):
    ds = factories.cifar10(9)
    ds.save_to_disk(str(tmp_path / "hf"))
    assert main(["convert", str(tmp_path / "hf"), str(tmp_path / "out"), "--shard-size", "4", "--quiet"]) == 0
    source = resolve_source(tmp_path / "out")
    assert len(source) == 9 and source.classes == factories.CIFAR10_NAMES
    assert source.targets.tolist() == [(7 * i) % 10 for i in range(9)]
    assert source.read(3) == factories.encode(3, "PNG")


def test_index_is_cached_and_rebuilt_when_the_shard_changes(shards, monkeypatch):
    from dali_pipes.sources import webdataset

    calls = []
    real = webdataset.build_index
    monkeypatch.setattr(webdataset, "build_index", lambda shard: calls.append(shard) or real(shard))
    WebDatasetSource(shards)
    assert calls == []  # every index came from its cache file
    index = json.loads((shards / "shard-000001.tar.dpidx.json").read_text())
    index["stamp"]["size"] += 1  # as if the shard had been rewritten
    (shards / "shard-000001.tar.dpidx.json").write_text(json.dumps(index))
    WebDatasetSource(shards)
    assert [p.name for p in calls] == ["shard-000001.tar"]


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("members, message", [
    ([("a.png", factories.encode(0, "PNG"))], r"sample 'a' \(a.png\) has no .cls label member"),
    ([("a.cls", b"3")], "sample 'a' has no image member"),
    ([("../evil.png", b"x"), ("../evil.cls", b"1")], "member '../evil.png' has an absolute or '..' path"),
    ([("/etc/evil.png", b"x")], "member '/etc/evil.png' has an absolute or '..' path"),
    ([("a.png", factories.encode(0, "PNG")), ("a.cls", b"cat")], "member 'a.cls' holds 'cat'"),
])
def test_bad_shards_are_refused_naming_shard_and_member(tmp_path, members, message):
    _tar(tmp_path / "bad.tar", members)
    with pytest.raises(SourceError, match=message):
        make_loader(tmp_path / "bad.tar", train=True, batch_size=2)


def test_not_a_tar_file(tmp_path):
    (tmp_path / "x.tar").write_bytes(b"definitely not a tar archive" * 30)
    with pytest.raises(SourceError, match="x.tar is not a readable tar file"):
        make_loader(tmp_path, train=True, batch_size=2)


def test_convert_refuses_a_non_empty_destination(tmp_path, identity_folder):
    root, _ = identity_folder
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "keep.txt").write_text("mine")
    assert main(["convert", str(root), str(tmp_path / "dst"), "--quiet"]) == 1
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["keep.txt"]


def test_convert_writes_parquet_in_the_hubs_layout(tmp_path, identity_folder):
    """`convert --format parquet`: data/train-0000K-of-0000N.parquet, `image` {bytes, path} and a
    ClassLabel `label` in each file's Hugging Face metadata, as the Hub stores imagenet-1k; read
    back by `datasets` itself, the same bytes, labels and class names, and trainable with make_loader."""
    import datasets as hf

    from dali_pipes.sources import ImageFolderSource

    root, _ = identity_folder
    out = tmp_path / "hub"
    assert main(["convert", str(root), str(out), "--format", "parquet", "--shard-size", "10", "--quiet"]) == 0
    files = sorted(p.name for p in (out / "data").iterdir())
    assert files == ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet", "train-00002-of-00003.parquet"]
    source = ImageFolderSource(root)
    ds = hf.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train",
                         cache_dir=str(tmp_path / "cache"))
    assert ds.features["label"].names == source.classes and isinstance(ds.features["image"], hf.Image)
    raw = ds.cast_column("image", hf.Image(decode=False))
    assert [row["image"]["bytes"] for row in raw] == [source.read(i) for i in range(len(source))]
    assert raw["label"] == source.targets.tolist()
    assert raw[0]["image"]["path"] == Path(source.describe(0)).name
    with make_loader(ds, train=True, batch_size=8, backend="torchvision", preset=Preprocess(
            train=TrainTransform(size=32))) as loader:
        assert sum(len(y) for _, y in loader) == len(source)
    assert main(["convert", str(root), str(out), "--format", "parquet", "--quiet"]) == 1  # not empty: refused
