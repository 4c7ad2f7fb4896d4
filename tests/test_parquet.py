"""Parquet files in the Hugging Face Hub's layout, read by row groups: schema from the files'
metadata, an order that is a function of (seed, epoch), ranks that split the row groups, exact
resume, damaged rows and files, a URL, and `datasets` streaming through the same files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dali_pipes import (
    ColorJitter,
    EvalTransform,
    ParquetSource,
    Preprocess,
    SourceError,
    StreamedSource,
    TrainTransform,
    make_loader,
)
from dali_pipes.sampling import RowGroupPlan
from dali_pipes.sources import resolve_source
from dali_pipes.stats import compute_stats

from . import factories
from .conftest import CPU_BACKENDS, collect, epoch_and_state

N = 23
ROWS_PER_GROUP = 3
SMALL = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))


def write_hub(root: Path, dataset, split: str, shards: int) -> list[Path]:
    """`dataset` as the Hub stores it: root/data/SPLIT-0000K-of-0000N.parquet, contiguous shards,
    row groups of ROWS_PER_GROUP rows (datasets' own writer: image {bytes, path}, ClassLabel in the
    files' metadata)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(shards):
        path = root / "data" / f"{split}-{k:05d}-of-{shards:05d}.parquet"
        dataset.shard(shards, k, contiguous=True).to_parquet(str(path), batch_size=ROWS_PER_GROUP)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    """imagenet-1k's schema (JPEG, odd sizes, 1000 ClassLabel names): train in 4 shards, an
    unlabeled test split in 1."""
    root = tmp_path_factory.mktemp("hub")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_hub(root, factories.imagenet(N), "train", 4)
        write_hub(root, factories.imagenet(5, unlabeled=True), "test", 1)
    return root


def label_of(i: int) -> int:
    return (131 * i) % 1000


def train_files(hub: Path) -> list[str]:
    return sorted(str(p) for p in (hub / "data").glob("train-*.parquet"))


def test_the_hubs_layout_with_its_schema(hub):
    with pytest.raises(SourceError, match=r"several splits \['test', 'train'\].*split="):
        resolve_source(hub)
    source = ParquetSource(hub, split="train")
    assert len(source) == N and len(source.classes) == 1000 and source.classes[131] == "n00000131"
    assert source.image_column == "image" and source.label_column == "label"
    assert source.targets.tolist() == [label_of(i) for i in range(N)]
    assert source.row_groups == (3, 3, 3, 3, 3, 3, 3, 2)  # shards of 6, 6, 6, 5 rows
    assert source.read(7) == factories.encode(7, "JPEG", factories.ODD_SIZES[7 % len(factories.ODD_SIZES)])
    assert "train-00001-of-00004.parquet row group" in source.describe(7)
    one_file = hub / "data" / "train-00000-of-00004.parquet"
    for other in (str(hub / "data" / "train-*.parquet"), train_files(hub), one_file):
        again = resolve_source(other)
        assert isinstance(again, ParquetSource)
        assert again.targets.tolist() == source.targets[: len(again)].tolist()
    with pytest.raises(SourceError, match=r"holds -1 \(unlabeled"):
        ParquetSource(hub, split="test")
    assert ParquetSource(hub, split="test", unlabeled=True).targets.tolist() == [-1] * 5
    with pytest.raises(SourceError, match="label column 'nope' is not in the dataset"):
        ParquetSource(hub, split="train", label_column="nope")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_order_is_a_function_of_seed_and_epoch(hub, backend):
    files = str(hub / "data" / "train-*.parquet")
    kw = dict(train=True, batch_size=4, seed=5, preset=SMALL)
    orders = []
    for threads in (1, 2):
        with make_loader(files, backend=backend, num_threads=threads, **kw) as loader:
            assert isinstance(loader.dataset, ParquetSource) and len(loader) == 6
            epochs = []
            for epoch in (0, 1):
                loader.set_epoch(epoch)
                ids, labels, _ = collect(loader)
                assert sorted(ids) == list(range(N)) and labels == [label_of(i) for i in ids]
                epochs.append(ids)
            assert epochs[0] != epochs[1]
            orders.append(epochs)
    assert orders[0] == orders[1]  # independent of threads
    with make_loader(files, backend="dali-cpu" if backend == "torchvision" else "torchvision", num_threads=1,
                     **kw) as other:
        assert collect(other)[0] == orders[0][0]  # and of the backend
    with make_loader(files, train=False, batch_size=4, backend=backend, preset=SMALL) as loader:
        assert collect(loader)[0] == list(range(N))  # eval: stored order


def windows_of(plan: RowGroupPlan, order: np.ndarray) -> list[set[int]]:
    starts = np.concatenate([[0], np.cumsum(plan.groups)])
    return [set((np.searchsorted(starts, order[i: i + plan.window * 3], side="right") - 1).tolist())
            for i in range(0, len(order), plan.window * 3)]


def test_the_shuffle_stays_within_its_window():
    groups = (3,) * 40
    plan = RowGroupPlan(120, 8, True, False, seed=1, groups=groups, window=4)
    order = plan.order(0)
    assert sorted(order.tolist()) == list(range(120))
    # every run of 12 samples (4 row groups) comes from 4 row groups: the window's
    assert all(len(w) == 4 for w in windows_of(plan, order))
    within = [order[i: i + 12] for i in range(0, 120, 12)]
    assert any(not np.all(np.diff(chunk) > 0) for chunk in within)  # shuffled inside the window
    assert not np.array_equal(order, RowGroupPlan(120, 8, True, False, seed=2, groups=groups, window=4).order(0))
    assert np.array_equal(order, RowGroupPlan(120, 8, True, False, seed=1, groups=groups, window=4).order(0))
    with pytest.raises(ValueError, match="row groups of 119 rows for 120 samples"):
        RowGroupPlan(120, 8, True, False, seed=1, groups=(3,) * 39 + (2,))


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("padding", ["pad", "drop"])
def test_ranks_divide_the_row_groups(hub, world, padding):
    """4 shards among 2 and 3 ranks: disjoint shares covering the data, equal batch counts, and each
    rank reading only its contiguous range of row groups."""
    source = ParquetSource(hub, split="train")
    starts = np.concatenate([[0], np.cumsum(source.row_groups)])
    for train in (True, False):
        seen, groups, lengths = [], [], set()
        for rank in range(world):
            with make_loader(source, train=train, batch_size=2, backend="torchvision", seed=3, preset=SMALL,
                             shard_id=rank, num_shards=world, shard_padding=padding) as loader:
                ids, _, sizes = collect(loader)
                lengths.add(len(sizes))
                seen.append(ids[: len(ids) - loader.num_padded])
                groups.append(set((np.searchsorted(starts, ids, side="right") - 1).tolist()))
        assert len(lengths) == 1  # DDP cannot hang
        flat = [i for share in seen for i in share]
        assert len(flat) == len(set(flat))
        assert len(flat) == (N if padding == "pad" else N // world * world)
        for a in range(world):
            for b in range(a + 1, world):
                assert len(groups[a] & groups[b]) <= 1  # at most a boundary row group in common
        assert max(len(g) for g in groups) <= -(-len(source.row_groups) // world) + 2


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_mid_epoch_is_exact_and_skips_what_it_skips(hub, backend, monkeypatch, tmp_path):
    preset = Preprocess(train=TrainTransform(size=16, color_jitter=ColorJitter(0.4, 0.4, 0.4)))
    kw = dict(train=True, batch_size=4, backend=backend, seed=9, num_threads=1, preset=preset)
    with make_loader(hub / "data" / "train-*.parquet", **kw) as reference:
        whole, state = epoch_and_state(reference, 2, 3)
    log, real = tmp_path / "loads", ParquetSource._load

    def load(self, group):  # recorded in a file: the torchvision backend's workers are processes
        with open(log, "a") as f:
            f.write(f"{group}\n")
        return real(self, group)

    monkeypatch.setattr(ParquetSource, "_load", load)
    with make_loader(str(hub / "data" / "train-*.parquet"), **kw) as loader:
        loader.load_state_dict(state)
        rest = list(loader)
        plan = loader.plan
    assert len(rest) == len(whole) - 3
    for (a, la), (b, lb) in zip(rest, whole[3:]):
        assert torch.equal(a, b) and torch.equal(la, lb)  # augmentations included
    needed = {g for batch in plan.batches(2)[3:] for g in
              (np.searchsorted(np.cumsum((0,) + plan.groups), batch, side="right") - 1).tolist()}
    loads = {int(line) for line in log.read_text().split()}
    assert loads and loads <= needed  # the skipped batches' row groups are never read


@pytest.fixture()
def damaged(tmp_path) -> Path:
    """cifar10's schema in one file: row 4 holds bytes that are no image."""
    ds = factories.cifar10(10)
    rows = ds.to_list()
    rows[4]["img"] = {"bytes": b"not an image", "path": None}
    from datasets import Dataset

    bad = Dataset.from_list(rows, features=ds.features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_hub(tmp_path, bad, "train", 1)
    return tmp_path


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_damaged_row(damaged, backend):
    kw = dict(train=False, batch_size=4, backend=backend, preset="cifar10", num_threads=1)
    with make_loader(damaged, **kw) as loader:
        with pytest.raises(Exception, match=r"train-00000-of-00001\.parquet row group 1 row 1"):
            list(loader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with make_loader(damaged, on_error="skip", **kw) as loader:
            ids, _, _ = collect(loader, mean=loader.preprocess.normalize.mean, std=loader.preprocess.normalize.std)
    assert ids == [0, 1, 2, 3, 5, 6, 7, 8, 9]  # only the damaged row is lost


def test_a_damaged_file(damaged):
    import pyarrow.parquet as pq

    path = damaged / "data" / "train-00000-of-00001.parquet"
    chunk = pq.read_metadata(path).row_group(2).column(0)
    data = bytearray(path.read_bytes())
    data[chunk.data_page_offset: chunk.data_page_offset + 64] = b"\xff" * 64  # a page header destroyed
    path.write_bytes(bytes(data))
    source = ParquetSource(damaged)  # footer and labels intact
    assert source.read(0) == factories.encode(0, "PNG")
    with pytest.raises(SourceError, match=r"train-00000-of-00001\.parquet row group 2"):
        source.read(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with make_loader(damaged, train=False, batch_size=4, backend="torchvision", preset="cifar10",
                         on_error="skip") as loader:
            ids, _, _ = collect(loader, mean=loader.preprocess.normalize.mean, std=loader.preprocess.normalize.std)
    assert ids == [0, 1, 2, 3, 5, 9]  # row 4 and row group 2 (rows 6-8) lost, nothing else
    path.write_bytes(bytes(data[:-100]))  # the footer cut off
    with pytest.raises(SourceError, match=r"footer of .*train-00000-of-00001\.parquet"):
        ParquetSource(damaged)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_url_source(tmp_path, hub, backend):
    from tests.harness.servers import HTTPServer

    served = tmp_path / "served"
    served.mkdir()
    for path in train_files(hub):
        (served / Path(path).name).write_bytes(Path(path).read_bytes())
    kw = dict(train=True, batch_size=4, backend=backend, seed=5, preset=SMALL, num_threads=2)
    with make_loader(hub / "data" / "train-*.parquet", **kw) as local:
        expected = collect(local)
    with HTTPServer(served) as server:
        with make_loader(f"{server.url}/", **kw) as loader:
            assert isinstance(loader.dataset, ParquetSource)
            assert "http://127.0.0.1" in loader.dataset.describe(0)
            assert collect(loader) == expected


def test_datasets_streaming_reads_through_its_files(hub, monkeypatch):
    from datasets import load_dataset
    from datasets.distributed import split_dataset_by_node

    streamed = load_dataset("parquet", data_files={"train": str(hub / "data" / "train-*.parquet")}, split="train",
                            streaming=True)
    kw = dict(train=True, batch_size=4, backend="torchvision", seed=5, preset=SMALL)
    with make_loader(streamed, **kw) as loader, make_loader(hub / "data" / "train-*.parquet", **kw) as files:
        assert isinstance(loader.dataset, ParquetSource) and len(loader) == len(files)
        assert collect(loader) == collect(files)
    import datasets

    # datasets pauses 5 s each time a pass over several parquet files ends (apache/arrow#45214); 0.1 s here
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for changed in (streamed.map(lambda row: row, features=streamed.features), streamed.shuffle(seed=0)):
            with pytest.raises(SourceError, match="num_samples=N"):  # not the stored rows: its own iteration
                resolve_source(changed)
            with make_loader(StreamedSource(changed, num_samples=N), **kw) as loader:
                assert sorted(collect(loader)[0]) == list(range(N))
    with pytest.raises(SourceError, match="does not declare its features"):
        StreamedSource(streamed.map(lambda row: row), num_samples=N)
    with pytest.raises(SourceError, match="split_dataset_by_node"):
        resolve_source(split_dataset_by_node(streamed, rank=0, world_size=2))


def test_convert_then_read_back_equals_the_folder(tmp_path, identity_folder):
    from dali_pipes.cli import main

    root, identity_to_class = identity_folder
    assert main(["convert", str(root), str(tmp_path / "out"), "--format", "parquet", "--shard-size", "10",
                 "--quiet"]) == 0
    kw = dict(train=True, batch_size=5, backend="dali-cpu", seed=3, num_threads=2)
    with make_loader(tmp_path / "out", **kw) as parquet:
        ids, labels, _ = collect(parquet)
        assert parquet.dataset.classes == ["ant", "cat", "dog"]
    assert sorted(ids) == sorted(identity_to_class) and labels == [identity_to_class[i] for i in ids]
    assert compute_stats(resolve_source(tmp_path / "out"), num_workers=0) == compute_stats(
        resolve_source(root), num_workers=0)  # per-dataset statistics: the same bytes, the same figures
    assert main(["demo", "--data", str(tmp_path / "out"), "--epochs", "1", "--batch-size", "8", "--quiet"]) == 0
    assert main(["preview", str(tmp_path / "out"), "--out", str(tmp_path / "grid.png"), "--count", "4", "--size", "32",
                 "--quiet"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_timms_streamed_hub_datasets(tmp_path, hub):
    """timm's `hfids/` (a Hub dataset streamed) given to dali_pipes.timm.create_loader: its parquet
    files read with its columns, no sample twice."""
    timm_data = pytest.importorskip("timm.data", reason="the test extra installs timm")
    from dali_pipes.timm import create_loader

    (tmp_path / "repo" / "data").mkdir(parents=True)
    for path in train_files(hub):
        (tmp_path / "repo" / "data" / Path(path).name).write_bytes(Path(path).read_bytes())
    dataset = timm_data.create_dataset(f"hfids/{tmp_path / 'repo'}", split="train", is_training=True,
                                       num_samples=N)
    loader = create_loader(dataset, input_size=(3, 16, 16), batch_size=4, is_training=True, use_prefetcher=False,
                           color_jitter=0, num_workers=1, device=torch.device("cpu"), backend="torchvision", seed=1)
    assert isinstance(loader.loader.dataset, ParquetSource) and len(loader) == 5  # timm trains with drop_last
    ids, labels, _ = collect(loader)
    assert len(set(ids)) == 20 and set(ids) <= set(range(N)) and labels == [label_of(i) for i in ids]


@pytest.mark.parametrize("fault", [503, "reset"])
def test_transient_faults_on_a_url_are_retried(tmp_path, hub, fault):
    """A loopback HTTP server behind a proxy that fails reads of one shard: retried, nothing changes."""
    from tests.harness.servers import FaultyProxy, HTTPServer

    served = tmp_path / "served"
    served.mkdir()
    for path in train_files(hub):
        (served / Path(path).name).write_bytes(Path(path).read_bytes())
    kw = dict(train=True, batch_size=4, backend="dali-cpu", seed=5, preset=SMALL, num_threads=2)
    with make_loader(hub / "data" / "train-*.parquet", **kw) as local:
        expected = collect(local)
    with HTTPServer(served) as server, FaultyProxy(server.url) as proxy:
        with make_loader(f"{proxy.url}/", **kw) as loader:
            proxy.fail("train-00002", 3, fault)  # the footers and labels are read: now the images
            assert collect(loader) == expected
        assert proxy.failed == 3


def test_the_kept_row_groups_stay_within_the_window(hub):
    source = ParquetSource(hub, split="train", window=1)
    starts = np.concatenate([[0], np.cumsum(source.row_groups)])
    for seed in range(4):
        with make_loader(source, train=True, batch_size=4, backend="torchvision", preset=SMALL, seed=seed) as loader:
            plan = loader.plan
        assert isinstance(plan, RowGroupPlan) and plan.window == 1
        most, touched = 0, 0
        for batch in plan.batches(0):
            source.read_batch(batch)
            most = max(most, len(source._cache))
            touched = max(touched, len(set(np.searchsorted(starts, batch, side="right") - 1)))
        assert most <= 2 * source.window + touched  # two windows' row groups, and the batch's own


def test_bench_runs_every_contender_on_parquet(tmp_path, identity_folder, capsys):
    """`dali-pipes bench --data` on Hub-style parquet: the classic contender decodes its rows with
    PIL (as ImageFolder would the files), beside the loaders and the decode ceiling."""
    from dali_pipes.cli import main

    assert main(["convert", str(identity_folder[0]), str(tmp_path / "pq"), "--format", "parquet", "--quiet"]) == 0
    assert main(["bench", "--data", str(tmp_path / "pq"), "--batch-size", "4", "--repeats", "1", "--threads", "2",
                 "--modes", "train", "--contenders", "dali-cpu", "torchvision", "classic-torchvision", "decode-only",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for contender in ("dali-cpu", "torchvision", "classic-torchvision", "decode-only"):
        assert f"| train | {contender} |" in printed


def test_hf_urls_through_huggingface_hubs_filesystem(tmp_path, hub):
    """hf://datasets/ORG/NAME/... read by huggingface_hub's own HfFileSystem from a loopback server
    answering the Hub's endpoints (what HF_ENDPOINT points it at): the same samples as the files."""
    from tests.harness.servers import HubServer

    repo = tmp_path / "hub" / "org" / "imagenet-like"
    (repo / "data").mkdir(parents=True)
    for path in train_files(hub):
        (repo / "data" / Path(path).name).write_bytes(Path(path).read_bytes())
    kw = dict(train=True, batch_size=4, backend="dali-cpu", seed=5, preset=SMALL, num_threads=2)
    with make_loader(hub / "data" / "train-*.parquet", **kw) as local:
        expected = collect(local)
    with HubServer(tmp_path / "hub") as server:
        url = "hf://datasets/org/imagenet-like/data/train-*.parquet"
        with make_loader(url, storage_options={"endpoint": server.url}, **kw) as loader:
            assert isinstance(loader.dataset, ParquetSource) and len(loader.dataset.classes) == 1000
            assert loader.dataset.describe(0).startswith("hf://datasets/org/imagenet-like/data/train-00000")
            assert collect(loader) == expected
        with pytest.raises(SourceError, match=r"listing hf://datasets/org/imagenet-like/nothing/\*\.parquet: .*404"):
            make_loader("hf://datasets/org/imagenet-like/nothing/*.parquet", storage_options={"endpoint": server.url},
                        **kw)
