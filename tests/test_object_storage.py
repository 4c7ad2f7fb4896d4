"""Data in object storage, against real servers on loopback started here: moto's S3 server and an
aiohttp file server with Range support, with a reverse proxy in front that adds latency and injects
faults (5xx, dropped connections, 403, 404). Remote loaders must give the local loaders' outputs
exactly, on both backends, and fail fast or skip as documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from dali_pipes import SourceError, make_loader
from dali_pipes.convert import convert_to_parquet, convert_to_shards
from dali_pipes.sources import resolve_source
from dali_pipes.sources.remote import INDEX_SUFFIX, RemoteImageFolderSource, RemoteWebDatasetSource, object_stamp
from dali_pipes.storage import Store, is_transient
from dali_pipes.synthetic import make_synthetic_imagefolder
from tests.harness.servers import FaultyProxy, HTTPServer, S3Server

from .conftest import CPU_BACKENDS

BATCH = 8


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A photo-like ImageFolder tree (40 JPEGs, 10 classes) and the same data as 3 shards and as 3
    parquet files in the Hub's layout."""
    folder = make_synthetic_imagefolder(num_images=40, long_side=160)
    store = tmp_path_factory.mktemp("store")
    convert_to_shards(resolve_source(str(folder)), store / "shards", shard_size=16)
    convert_to_parquet(resolve_source(str(folder)), store / "hub", shard_size=16)
    return {"folder": folder, "shards": store / "shards", "parquet": store / "hub" / "data"}


@pytest.fixture(scope="module")
def s3(local):
    with S3Server() as server:
        server.create_bucket("bkt")
        server.upload(local["folder"], "s3://bkt/folder")
        server.upload(local["shards"], "s3://bkt/shards")
        server.upload(local["parquet"], "s3://bkt/parquet")
        yield server


@pytest.fixture(scope="module")
def http(local, tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    shutil.copytree(local["folder"], root / "folder")
    shutil.copytree(local["shards"], root / "shards", ignore=shutil.ignore_patterns(f"*{INDEX_SUFFIX}"))
    shutil.copytree(local["parquet"], root / "parquet")
    with HTTPServer(root) as server:
        yield server


def _remote(store, s3, http, layout):
    if store == "s3":
        return f"s3://bkt/{layout}", s3.storage_options()
    return f"{http.url}/{layout}/", None


def _epoch(source, backend, storage_options=None, **options):
    with make_loader(source, train=True, batch_size=BATCH, backend=backend, seed=7, num_threads=2,
                     storage_options=storage_options, **options) as loader:
        batches = [(images.clone(), labels.clone()) for images, labels in loader]
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("layout", ["folder", "shards", "parquet"])
@pytest.mark.parametrize("store", ["s3", "http"])
def test_remote_data_gives_the_local_outputs_exactly(local, s3, http, store, layout, backend):
    url, options = _remote(store, s3, http, layout)
    images, labels = _epoch(url, backend, options)
    expected_images, expected_labels = _epoch(str(local[layout]), backend)
    assert torch.equal(labels, expected_labels)
    assert torch.equal(images, expected_images)


@pytest.mark.parametrize("store", ["s3", "http"])
def test_a_remote_tree_lists_as_torchvisions_image_folder(local, s3, http, store):
    url, options = _remote(store, s3, http, "folder")
    remote, here = resolve_source(url, storage_options=options), resolve_source(str(local["folder"]))
    assert isinstance(remote, RemoteImageFolderSource)
    assert remote.classes == here.classes and np.array_equal(remote.targets, here.targets)
    tails = [path.split("/folder/", 1)[1] for path, _ in remote.samples]
    assert tails == [os.path.relpath(path, local["folder"]) for path, _ in here.samples]
    assert all(remote.read(i) == here.read(i) for i in range(len(here)))


def test_ranks_share_one_permutation_and_resume_exactly(s3):
    """Two ranks of one epoch cover the data once; a loader restored mid-epoch continues exactly."""
    url, options = "s3://bkt/shards", s3.storage_options()
    seen = []
    for rank in range(2):
        with make_loader(url, train=False, shuffle=True, batch_size=BATCH, backend="dali-cpu", seed=3, shard_id=rank,
                         num_shards=2, storage_options=options) as loader:
            seen += [int(i) for i in loader.sampler]
    assert sorted(seen) == list(range(40))
    with make_loader(url, train=True, batch_size=BATCH, backend="dali-cpu", seed=5, storage_options=options) as a:
        whole = [images.clone() for images, _ in a]
    with make_loader(url, train=True, batch_size=BATCH, backend="dali-cpu", seed=5, storage_options=options) as b:
        iterator = iter(b)
        next(iterator), next(iterator)
        state = b.state_dict()
    with make_loader(url, train=True, batch_size=BATCH, backend="dali-cpu", seed=5, storage_options=options) as c:
        c.load_state_dict(state)
        rest = [images.clone() for images, _ in c]
    assert len(rest) == len(whole) - 2 and all(torch.equal(x, y) for x, y in zip(rest, whole[2:]))


@pytest.fixture
def proxied_http(http):
    with FaultyProxy(http.url) as proxy:
        yield proxy


@pytest.mark.parametrize("fault", [503, 500, 429, "reset"])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_transient_faults_are_retried_and_change_nothing(local, proxied_http, fault, backend):
    expected = _epoch(str(local["shards"]), backend)
    proxied_http.fail(".tar", 6, fault)
    got = _epoch(f"{proxied_http.url}/shards/", backend)
    assert proxied_http.failed == 6
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_an_object_that_stays_unreadable_is_skipped_or_named(local, proxied_http, monkeypatch):
    """Persistent 503s on one image: after the retries it is left out under on_error="skip" (a
    warning names its URL), and with "raise" the error names it and the attempts."""
    monkeypatch.setattr("dali_pipes.storage.BACKOFF_CAP_S", 0.05)
    url = f"{proxied_http.url}/folder/"
    victim = RemoteImageFolderSource(url).describe(3)
    proxied_http.fail(victim.split("/folder/", 1)[1], 10**6, 503)
    for backend in CPU_BACKENDS:
        with pytest.warns(Warning, match="unreadable") as caught:
            with make_loader(url, train=False, batch_size=BATCH, backend=backend, on_error="skip") as loader:
                count = sum(len(labels) for _, labels in loader)
                skipped = list(loader.skipped)
        assert count == 39, backend
        assert any(victim in str(w.message) or victim in str(skipped) for w in caught), skipped
        with pytest.raises(SourceError, match=r"503.*after 5 attempts") as err:
            with make_loader(url, train=False, batch_size=BATCH, backend=backend) as loader:
                for _ in loader:
                    pass
        assert victim in str(err.value)


def test_a_missing_object_fails_fast_naming_its_url(local, s3):
    """A 404 is not retried: deleted after the listing, the object's error names its URL at once."""
    s3.upload(local["folder"], "s3://bkt/doomed")
    source = RemoteImageFolderSource("s3://bkt/doomed", s3.storage_options())
    victim = source.describe(5)
    s3.client().delete_object(Bucket="bkt", Key=victim.removeprefix("s3://bkt/"))
    start = time.perf_counter()
    with pytest.raises(SourceError, match="not found") as err:
        source.read(5)
    assert victim in str(err.value) and time.perf_counter() - start < 2.0
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with make_loader(source, train=False, batch_size=BATCH, backend="dali-cpu", on_error="skip") as loader:
            assert sum(len(labels) for _, labels in loader) == 39
            assert list(loader.skipped) == [victim]


@pytest.mark.parametrize("url", ["s3://no-such-bucket/x/", "s3://bkt/no-such-prefix/"])
def test_a_missing_bucket_or_prefix_fails_fast(s3, url):
    with FaultyProxy(s3.endpoint) as proxy:
        start = time.perf_counter()
        with pytest.raises(SourceError, match="not found|nothing under") as err:
            make_loader(url, train=True, batch_size=BATCH, storage_options=s3.storage_options(proxy.url))
        assert url.rstrip("/") in str(err.value)
        assert time.perf_counter() - start < 5.0 and proxy.requests <= 4  # no retry storm


def test_a_missing_http_url_fails_fast(http):
    with pytest.raises(SourceError, match="not found") as err:
        make_loader(f"{http.url}/nothing-here/", train=True, batch_size=BATCH)
    assert "/nothing-here" in str(err.value)


def test_denied_credentials_fail_fast(tmp_path, local):
    """moto with authentication on (a server of its own): unknown keys get a 403 at the listing."""
    from tests.harness.servers import free_port

    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "2", "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="y",  # noqa: S106
                              region_name="us-east-1")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="locked")  # unauthenticated action 1 of 2
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        client.put_object(Bucket="locked", Key="c/1.jpg", Body=b"x")  # 2 of 2: from here on, keys are checked
        options = {"key": "AKIAUNKNOWN", "secret": "wrong", "client_kwargs": {"endpoint_url": endpoint}}
        start = time.perf_counter()
        with pytest.raises(SourceError, match="access denied") as err:
            make_loader("s3://locked/", train=True, batch_size=BATCH, storage_options=options)
        assert "s3://locked" in str(err.value) and time.perf_counter() - start < 10.0
    finally:
        server.terminate()
        server.wait(10)


def test_shard_indexes_are_cached_beside_the_data_or_in_the_user_cache(local, s3, http, tmp_path, monkeypatch):
    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path / "cache"))
    s3.upload(local["shards"] / "shard-000000.tar", "s3://bkt/fresh/shard-000000.tar")
    fs = Store("s3://bkt", s3.storage_options()).fs
    assert not fs.exists("bkt/fresh/shard-000000.tar" + INDEX_SUFFIX)
    with FaultyProxy(s3.endpoint) as proxy:
        first = RemoteWebDatasetSource("s3://bkt/fresh", s3.storage_options(proxy.url))
        assert fs.exists("bkt/fresh/shard-000000.tar" + INDEX_SUFFIX)  # beside the shard (writable store)
        before = proxy.requests
        again = RemoteWebDatasetSource("s3://bkt/fresh", s3.storage_options(proxy.url))
        assert proxy.requests - before <= 4  # a listing, the index: the shard itself is not read again
    assert again.keys == first.keys
    # a read-only store (HTTP): the index goes to the user cache, keyed by URL, size and ETag
    RemoteWebDatasetSource(f"{http.url}/shards/")
    cached = sorted((tmp_path / "cache" / "wds-index").glob("remote-*.json"))
    assert len(cached) == 3
    assert {json.loads(p.read_text())["stamp"]["size"] for p in cached} == {
        p.stat().st_size for p in local["shards"].glob("*.tar")}


@pytest.mark.parametrize("error, transient", [
    (TimeoutError(), True), (ConnectionResetError(), True), (FileNotFoundError("x"), False),
    (PermissionError("x"), False), (OSError(5, "I/O"), True), (ValueError("x"), False),
])
def test_which_errors_are_retried(error, transient):
    assert is_transient(error) is transient


def test_convert_writes_indexed_shards_to_a_url(local, s3):
    from dali_pipes.cli import main

    options = json.dumps(s3.storage_options())
    assert main(["convert", str(local["folder"]), "s3://bkt/converted", "--shard-size", "16", "--quiet",
                 "--storage-options", options]) == 0
    fs = Store("s3://bkt", s3.storage_options()).fs
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls("bkt/converted"))
    assert names == ["classes.txt"] + [f"shard-00000{i}.tar{x}" for i in range(3) for x in ("", INDEX_SUFFIX)]
    for entry in fs.ls("bkt/converted", detail=True):  # readers' listing stamps match: they never rescan
        if entry["name"].endswith(".tar"):
            index = json.loads(fs.cat_file(entry["name"] + INDEX_SUFFIX))
            assert index["stamp"] == object_stamp(entry)
    assert torch.equal(_epoch("s3://bkt/converted", "dali-cpu", s3.storage_options())[0],
                       _epoch(str(local["shards"]), "dali-cpu")[0])
    with pytest.raises(SourceError, match="not empty"):
        convert_to_shards(resolve_source(str(local["folder"])), "s3://bkt/converted",
                          storage_options=s3.storage_options())


def test_a_saved_hf_dataset_in_s3(s3, tmp_path):
    from .factories import cifar10

    cifar10(23).save_to_disk(str(tmp_path / "hf"))
    s3.upload(tmp_path / "hf", "s3://bkt/hf")
    remote = _epoch("s3://bkt/hf", "dali-cpu", s3.storage_options())
    here = _epoch(str(tmp_path / "hf"), "dali-cpu")
    assert torch.equal(remote[0], here[0]) and torch.equal(remote[1], here[1])


def test_bench_reads_a_url(s3, tmp_path, capsys):
    from dali_pipes.cli import main

    assert main(["bench", "--data", "s3://bkt/shards", "--storage-options", json.dumps(s3.storage_options()),
                 "--contenders", "dali-cpu", "torchvision", "--repeats", "1", "--batch-size", "8", "--modes", "eval",
                 "--quiet", "--out", str(tmp_path)]) == 0
    assert "dali-cpu" in capsys.readouterr().out


def test_storage_options_are_checked(local):
    with pytest.raises(SourceError, match="storage_options apply to URLs"):
        make_loader(str(local["folder"]), train=True, batch_size=BATCH, storage_options={"anon": True})
    with pytest.raises(ValueError, match="storage_options must be a dict"):
        make_loader("s3://bkt/folder", train=True, batch_size=BATCH, storage_options="anon")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("layout", ["folder", "shards"])
def test_one_request_per_sample(s3, layout, backend):
    """An epoch costs one GET per sample, in DataLoader workers too (where no listing is cached)."""
    with FaultyProxy(s3.endpoint) as proxy:
        with make_loader(f"s3://bkt/{layout}", train=True, batch_size=BATCH, backend=backend, num_threads=2,
                         storage_options=s3.storage_options(proxy.url)) as loader:
            before = proxy.requests
            assert sum(len(labels) for _, labels in loader) == 40
            assert proxy.requests - before == 40


def test_an_unknown_protocol_names_the_extras():
    with pytest.raises(SourceError, match=r"foo://bucket/x.*no filesystem.*dali-pipes\[s3\]"):
        make_loader("foo://bucket/x/", train=True, batch_size=BATCH)
