"""Slow storage for real: each layout (an ImageFolder tree, WebDataset shards, a saved Hugging Face
dataset) read through a FUSE filesystem that adds latency to every open and read
(tests/harness/latencyfs.py). The DALI feeder keeps several requests in flight at once, the training
thread waits on none of them, and the batches are the ones the same files give from local disk.

Needs root, /dev/fuse, libfuse2 and fusermount (Debian's libfuse2 and fuse3, which `.ci/run`
installs) and fusepy (the test extra); without them the tests skip and say which is missing.
"""

from __future__ import annotations

import gc
import os
import threading

import pytest
import torch

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
from dali_pipes.convert import convert_to_shards
from dali_pipes.sources import resolve_source
from tests.harness.latencyfs import LatencyMount, fuse_missing

SMALL = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(size=32, resize_size=36))
DELAY_MS = 10
MISSING = fuse_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"no latency filesystem here: {MISSING}")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """One 48-image dataset in three layouts under one root (mounted whole by each test)."""
    import datasets

    from dali_pipes.synthetic import make_synthetic_imagefolder

    root = tmp_path_factory.mktemp("slow")
    folder = make_synthetic_imagefolder(root / "folder", num_images=48, long_side=64)
    source = resolve_source(folder)
    convert_to_shards(source, root / "shards", shard_size=16)
    rows = {"image": [{"bytes": source.read(i), "path": None} for i in range(len(source))],
            "label": [int(t) for t in source.targets]}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=source.classes)})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(root / "hf"))
    return root


def batches(location, train: bool, mount: LatencyMount | None = None, **options):
    """The epoch's batches, and the requests this (the training) thread made during it."""
    me = threading.get_native_id()
    with make_loader(location, train=train, batch_size=16, backend="dali-cpu", preset=SMALL, seed=3,
                     num_threads=1, **options) as loader:
        before = mount.stats()["requesters"].get(me, 0) if mount else 0  # setup: listing, shard indexes
        out = [(images.clone(), labels.clone()) for images, labels in loader]
        during = (mount.stats()["requesters"].get(me, 0) if mount else 0) - before
    del loader  # a saved HF dataset is memory-mapped: let it go before the mount does
    gc.collect()
    if mount is not None:  # nothing of the closed loader keeps a file open (the mount would stay busy)
        assert descriptors_under(mount.point) == [], descriptors_under(mount.point)
    return out, during


def descriptors_under(point) -> list[str]:
    """The files under `point` this process holds open."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            pass
    return [p for p in paths if p.startswith(f"{point}/")]


@pytest.mark.parametrize("layout", ["folder", "shards"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_reads_are_concurrent_and_the_batches_unchanged(layouts, layout, train):
    expected, _ = batches(layouts / layout, train)
    with LatencyMount(layouts, DELAY_MS) as mount:
        got, on_training_thread = batches(mount.point / layout, train, mount, read_threads=8)
        stats = mount.stats()
    # a 16-image batch fans out to 8 readers: several opens/reads are served at once
    assert stats["most_in_flight"] >= 4, stats
    assert stats["requests"] >= 48, stats  # every image went through the slow filesystem
    assert on_training_thread == 0  # the epoch's reads all ran on the read-ahead
    assert len(got) == len(expected) == 3
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected))


def test_a_saved_hf_dataset_reads_through_slow_storage_unchanged(layouts):
    """Arrow files are memory-mapped and read in large requests: few round trips, same batches."""
    expected, _ = batches(layouts / "hf", True)
    with LatencyMount(layouts, DELAY_MS) as mount:
        got, _ = batches(mount.point / "hf", True, read_threads=8)
        stats = mount.stats()
    assert stats["requests"] >= 1, stats
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected))


def test_one_reader_is_serial_and_many_are_not(layouts):
    """The property the concurrency test rests on: with one reader, one request at a time."""
    with LatencyMount(layouts, DELAY_MS) as mount:
        batches(mount.point / "folder", True, mount, read_threads=1)
        assert mount.stats()["most_in_flight"] == 1, mount.stats()


def test_a_busy_mount_is_detached_lazily_and_its_server_ends_with_the_last_file(layouts):
    """What close() promises when a loader (or the user) still holds a file on the mount: the mount
    is detached at once (lazily), nothing hangs, and the server ends when that file is closed."""
    mount = LatencyMount(layouts, 0, count=False)
    image = next((mount.point / "folder").rglob("*.jpg"))
    held = open(image, "rb")  # noqa: SIM115 - held open on purpose, closed by the timer below
    assert held.read(2) == b"\xff\xd8"
    closer = threading.Timer(1.0, held.close)
    closer.start()
    mount.close()  # busy: `fusermount -u` fails, `-uz` detaches; the server ends once the file closes
    closer.join()
    assert held.closed and not os.path.ismount(mount.point)
    assert mount.process.returncode is not None
