"""The loaders under Hugging Face Accelerate (CPU): `prepare` hands them back untouched, alone and
under a 2-process launch (no second sharding), and `register_for_checkpointing(loader)` makes
`save_state` / `load_state` resume the loader exactly, also when every rank loads rank 0's copy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate", reason="the 'test' extra installs accelerate")

from .conftest import CPU_BACKENDS  # noqa: E402

JOB = Path(__file__).with_name("frameworks") / "accelerate_job.py"
ALL = list(range(23))


def run_job(root, backend, out, tag, *options, processes: int = 1) -> list[dict]:
    launch = [sys.executable] if processes == 1 else \
        [shutil.which("torchrun") or "torchrun", "--standalone", f"--nproc_per_node={processes}"]
    result = subprocess.run([*launch, str(JOB), str(root), backend, str(out), tag, *options],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return [json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{tag}.rank*.json"))]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("processes", [1, 2])
def test_prepare_passes_the_loader_through_and_save_state_resumes_it(identity_folder, tmp_path, backend,
                                                                      processes):
    root, _ = identity_folder
    ranks = run_job(root, backend, tmp_path, "full", "--save-at", "2", processes=processes)
    assert len(ranks) == processes
    for r in ranks:
        assert r["same_object"] and r["world"] == processes and r["shard"] == [r["rank"], processes]
    for epoch in (0, 1):
        shares = [[i for s in r["steps"] if s["epoch"] == epoch for i in s["ids"]] for r in ranks]
        assert sorted(set().union(*shares)) == ALL  # together: the whole dataset
        assert sum(map(len, shares)) == len(ALL) + (processes - 1)  # one padding repeat with 2 ranks
        if processes == 2:
            assert len(set(shares[0]) & set(shares[1])) <= 1  # disjoint up to the padding repeat
    resumed = run_job(root, backend, tmp_path, "resumed", "--resume", str(tmp_path / "full-state"),
                      processes=processes)
    for before, after in zip(ranks, resumed):
        assert [s["sum"] for s in after["steps"]] == [s["sum"] for s in before["steps"]][2:]
