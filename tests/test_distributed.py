"""Distributed sharding: the plan's arithmetic, and a real `torchrun --nproc_per_node 2` (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dali_pipes import make_loader
from dali_pipes.sampling import EpochPlan

from . import factories
from .conftest import CPU_BACKENDS

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize("n, shards", [(23, 2), (10, 4), (7, 7), (5, 8), (100, 3)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_padded_shards_cover_everything_with_equal_sizes(n, shards, shuffle):
    plans = [EpochPlan(n, 2, shuffle, False, seed=1, shard_id=r, num_shards=shards) for r in range(shards)]
    for epoch in (0, 1):
        orders = [p.order(epoch) for p in plans]
        assert len({len(o) for o in orders}) == 1 and len({len(p) for p in plans}) == 1
        real = np.concatenate([o[: len(o) - p.num_padded] for o, p in zip(orders, plans)])
        assert sorted(real.tolist()) == list(range(n))  # exactly once after removing the padding
        assert all(p.num_padded <= 1 for p in plans)
        assert sum(p.num_padded for p in plans) == len(orders[0]) * shards - n


def test_dropped_shards_are_disjoint_and_cut_at_most_world_minus_one():
    plans = [EpochPlan(23, 4, True, False, seed=1, shard_id=r, num_shards=4, padding="drop") for r in range(4)]
    orders = [p.order(3) for p in plans]
    flat = np.concatenate(orders)
    assert len(set(flat.tolist())) == len(flat) == 20 and all(len(o) == 5 for o in orders)
    assert all(p.num_padded == 0 for p in plans)


def test_one_global_permutation_split_by_rank():
    single = EpochPlan(12, 3, True, False, seed=5)
    ranks = [EpochPlan(12, 3, True, False, seed=5, shard_id=r, num_shards=3) for r in range(3)]
    for epoch in (0, 4):
        assert [int(i) for i in single.order(epoch)[1::3]] == ranks[1].order(epoch).tolist()
    assert not np.array_equal(ranks[0].order(0), ranks[0].order(1))


@pytest.mark.parametrize("kwargs, message", [
    ({"shard_id": 2, "num_shards": 2}, r"shard_id must be an integer in \[0, num_shards=2\)"),
    ({"shard_id": 0}, "pass both shard_id= and num_shards="),
    ({"shard_id": 0, "num_shards": 2, "shard_padding": "repeat"}, "shard padding must be one of"),
])
def test_bad_shard_arguments(identity_folder, kwargs, message):
    root, _ = identity_folder
    with pytest.raises(ValueError, match=message):
        make_loader(root, train=True, batch_size=2, **kwargs)


def test_torchrun_environment_is_detected(identity_folder, monkeypatch):
    root, identity_to_class = identity_folder
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with make_loader(root, train=False, batch_size=4, backend="torchvision", num_threads=1) as loader:
        assert (loader.shard_id, loader.num_shards) == (1, 3)
        assert len(loader.plan.order(0)) == 8  # ceil(23 / 3)


KINDS = ["folder", "hf", "parquet"]


@pytest.fixture(scope="module")
def torchrun_ranks(identity_folder, tmp_path_factory) -> list[dict]:
    """One `torchrun --nproc_per_node 2` launch; each rank runs every case ("KIND-BACKEND") in turn."""
    out = tmp_path_factory.mktemp("torchrun")
    sources = {"folder": str(identity_folder[0]), "hf": str(out / "hf"), "parquet": str(out / "parquet")}
    factories.cifar10(23).save_to_disk(sources["hf"])
    for k in range(4):  # the Hub's layout, 4 shards of row groups of 3
        factories.cifar10(23).shard(4, k, contiguous=True).to_parquet(
            f"{sources['parquet']}/train-{k:05d}-of-00004.parquet", batch_size=3)
    cases = {f"{kind}-{backend}": [sources[kind], backend] for kind in KINDS for backend in CPU_BACKENDS}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
               "--nproc_per_node", "2", str(WORKER), str(out), json.dumps(cases)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=280, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_torchrun_two_ranks(torchrun_ranks, identity_folder, backend, kind):
    n = len(identity_folder[1]) if kind == "folder" else 23
    assert [r["world"] for r in torchrun_ranks] == [2, 2]
    ranks = [r[f"{kind}-{backend}"] for r in torchrun_ranks]
    for mode in ("train", "eval"):
        a, b = ranks[0][mode], ranks[1][mode]
        assert a["shard"] == [0, 2] and b["shard"] == [1, 2]
        assert a["len"] == b["len"] == 4  # ceil(ceil(23 / 2) / 3)
        assert a["num_padded"] + b["num_padded"] == 1
        orders = []
        for epoch in (0, 1):
            ea, eb = a["epochs"][epoch], b["epochs"][epoch]
            assert ea["batches"] == eb["batches"] == 4  # equal on every rank: DDP cannot hang
            real_a = ea["ids"][: len(ea["ids"]) - a["num_padded"]]
            real_b = eb["ids"][: len(eb["ids"]) - b["num_padded"]]
            assert not set(real_a) & set(real_b)  # disjoint shares
            assert sorted(real_a + real_b) == list(range(n))  # together: every sample exactly once
            orders.append(ea["ids"])
        if mode == "train":
            assert orders[0] != orders[1]  # set_epoch reshuffles, consistently across ranks


@pytest.mark.timeout(300)
def test_the_ddp_example_trains_and_resumes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DALI_PIPES_CACHE": str(tmp_path / "cache")}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    example = Path(__file__).resolve().parents[1] / "examples" / "train_ddp.py"
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(example),
            "--images", "40", "--image-size", "32", "--batch-size", "8", "--checkpoint", str(tmp_path / "ckpt.pt")]
    first = subprocess.run(base + ["--epochs", "1"], capture_output=True, text=True, timeout=150, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "epoch 0:" in first.stdout and "on 40 images" in first.stdout  # every val image counted once
    second = subprocess.run(base + ["--epochs", "2", "--resume"], capture_output=True, text=True, timeout=150, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "epoch 0:" not in second.stdout and "epoch 1:" in second.stdout
