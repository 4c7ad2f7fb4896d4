"""The loaders as the data of Lightning's real Trainer (CPU, a linear model, 23 tiny images):
fit with validation and the sanity check, validate, test, limit_train_batches, resume from a
Lightning checkpoint, and strategy="ddp" with 2 processes (gloo). The jobs run in subprocesses
(tests/frameworks/lightning_job.py), as a user's script would: the single-process runs of both
backends in one process, their resumes in a second; the DDP runs of both backends in one launch,
their resumes in a second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning", reason="the 'test' extra installs lightning")

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader  # noqa: E402

from .conftest import CPU_BACKENDS, read_identities  # noqa: E402

JOB = Path(__file__).with_name("frameworks") / "lightning_job.py"
ALL = list(range(23))


def run_job(root, out, *runs: dict, ddp: bool = False) -> dict[str, list[dict]]:
    """Each run's results by tag: one dict per rank."""
    result = subprocess.run([sys.executable, str(JOB), str(root), str(out), *map(json.dumps, runs),
                             *(["--ddp"] if ddp else [])], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return {run["tag"]: [json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{run['tag']}.rank*.json"))]
            for run in runs}


@pytest.fixture(scope="module")
def runs(identity_folder, tmp_path_factory) -> tuple[dict, Path]:
    """Every backend's single-process runs in one process, then their resumes in another."""
    root, _ = identity_folder
    out = tmp_path_factory.mktemp("lightning")
    first = [run for backend in CPU_BACKENDS for run in (
        {"tag": f"fit-{backend}", "backend": backend},
        {"tag": f"limit-{backend}", "backend": backend, "limit": 2},
        {"tag": f"full-{backend}", "backend": backend, "augment": True, "every": 3})]
    results = run_job(root, out, *first)
    resumes = [{"tag": f"resumed{step}-{backend}", "backend": backend, "augment": True,
                "resume": str(out / f"full-{backend}-ckpt" / f"step={step}.ckpt")}
               for backend in CPU_BACKENDS for step in (3, 9)]  # mid-epoch 0, mid-epoch 1
    results.update(run_job(root, out, *resumes))
    return results, out


def epochs_of(steps: list[dict]) -> dict[int, list[list[int]]]:
    out: dict[int, list[list[int]]] = {}
    for step in steps:
        out.setdefault(step["epoch"], []).append(step["ids"])
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_fit_validate_test_and_limit_train_batches(identity_folder, runs, backend):
    root, _ = identity_folder
    (run,) = runs[0][f"fit-{backend}"]
    epochs = epochs_of(run["train"])
    assert sorted(epochs) == [0, 1]
    for batches in epochs.values():
        assert len(batches) == 6 and sorted(sum(batches, [])) == ALL  # every sample once per epoch
    assert epochs[0] != epochs[1]  # Lightning's set_epoch reached the loader: a new order
    assert run["sanity_batches"] == 2
    assert len(run["val"]) == 3  # after each of the 2 epochs, then trainer.validate
    assert all(sorted(seen) == ALL for seen in run["val"])
    assert run["validate"][0]["val_loss"] == pytest.approx(run["test"][0]["test_loss"])

    (limited,) = runs[0][f"limit-{backend}"]
    preset = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    with make_loader(root, train=True, batch_size=4, backend=backend, seed=5, num_threads=1, preset=preset) as loader:
        for epoch, batches in epochs_of(limited["train"]).items():
            loader.set_epoch(epoch)
            expected = [read_identities(images) for images, _ in loader][:2]
            assert batches == expected  # the first 2 batches of that very epoch


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_resume_from_a_lightning_checkpoint_continues_the_loader(runs, backend):
    """Lightning saves the train loader's state_dict in its checkpoints (the loader is Stateful)
    and restores it: the resumed run gets the very batches the uninterrupted one got, with colour
    jitter and RandAugment on (DALI's own random ops included)."""
    (full,) = runs[0][f"full-{backend}"]
    sums = [step["sum"] for step in full["train"]]
    assert len(sums) == 12
    for step in (3, 9):  # mid-epoch 0, mid-epoch 1
        (resumed,) = runs[0][f"resumed{step}-{backend}"]
        assert [s["sum"] for s in resumed["train"]] == sums[step:]


@pytest.fixture(scope="module")
def ddp_runs(identity_folder, tmp_path_factory) -> dict:
    """Both backends' DDP runs in one 2-process launch, then their resumes in another."""
    root, _ = identity_folder
    out = tmp_path_factory.mktemp("lightning-ddp")
    results = run_job(root, out, *({"tag": f"ddp-{backend}", "backend": backend, "every": 3}
                                   for backend in CPU_BACKENDS), ddp=True)
    results.update(run_job(root, out, *({"tag": f"ddp-resumed-{backend}", "backend": backend,
                                         "resume": str(out / f"ddp-{backend}-ckpt" / "step=3.ckpt")}
                                        for backend in CPU_BACKENDS), ddp=True))
    return results


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_ddp_two_processes_each_read_their_own_share_and_resume(ddp_runs, backend):
    """Lightning does not wrap or re-shard the loaders (they are not DataLoaders): each rank reads
    its share of one permutation, disjoint, covering the dataset, in equal numbers of batches. Its
    checkpoint holds rank 0's loader state; each rank resumes its own share from it."""
    ranks = ddp_runs[f"ddp-{backend}"]
    assert len(ranks) == 2 and all(r["world"] == 2 for r in ranks)
    per_rank = [epochs_of(r["train"]) for r in ranks]
    for epoch in (0, 1):
        shares = [sum(p[epoch], []) for p in per_rank]
        assert len(shares[0]) == len(shares[1]) == 12  # 23 samples: one repeat pads the second share
        assert sorted(set(shares[0]) | set(shares[1])) == ALL
        assert len(set(shares[0]) & set(shares[1])) <= 1
    for runs_ in zip(*(r["val"] for r in ranks)):
        assert sorted(set(runs_[0]) | set(runs_[1])) == ALL
    assert ranks[0]["sanity_batches"] == ranks[1]["sanity_batches"] == 2
    resumed = ddp_runs[f"ddp-resumed-{backend}"]
    assert len(resumed) == 2
    for before, after in zip(ranks, resumed):
        assert [s["ids"] for s in after["train"]] == [s["ids"] for s in before["train"]][3:]
