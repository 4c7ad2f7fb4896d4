"""The loaders under Hugging Face Accelerate (CPU): `prepare` hands them back untouched, alone and
under a 2-process launch (no second sharding), and `register_for_checkpointing(loader)` makes
`save_state` / `load_state` resume the loader exactly, also when every rank loads rank 0's copy.
Both backends run in turn in one process (or one launch), the resumes in a second."""

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


def run_job(root, out, tag, *options, processes: int) -> dict[str, list[dict]]:
    """Both backends in turn in one process (or one launch of `processes` ranks): by backend, a dict per rank."""
    launch = [sys.executable] if processes == 1 else \
        [shutil.which("torchrun") or "torchrun", "--standalone", f"--nproc_per_node={processes}"]
    result = subprocess.run([*launch, str(JOB), str(root), str(out), tag, *CPU_BACKENDS, *options],
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return {backend: [json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{tag}-{backend}.rank*.json"))]
            for backend in CPU_BACKENDS}


@pytest.fixture(scope="module", params=[1, 2], ids=["1", "2"])
def launched(request, identity_folder, tmp_path_factory) -> tuple[int, dict, dict]:
    """(processes, the full runs, their resumes from the state saved at step 2), by backend."""
    root, _ = identity_folder
    out = tmp_path_factory.mktemp(f"accelerate{request.param}")
    full = run_job(root, out, "full", "--save-at", "2", processes=request.param)
    resumed = run_job(root, out, "resumed", "--resume", str(out / "full"), processes=request.param)
    return request.param, full, resumed


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_prepare_passes_the_loader_through_and_save_state_resumes_it(launched, backend):
    processes, full, resumed = launched
    ranks = full[backend]
    assert len(ranks) == processes
    for r in ranks:
        assert r["same_object"] and r["world"] == processes and r["shard"] == [r["rank"], processes]
    for epoch in (0, 1):
        shares = [[i for s in r["steps"] if s["epoch"] == epoch for i in s["ids"]] for r in ranks]
        assert sorted(set().union(*shares)) == ALL  # together: the whole dataset
        assert sum(map(len, shares)) == len(ALL) + (processes - 1)  # one padding repeat with 2 ranks
        if processes == 2:
            assert len(set(shares[0]) & set(shares[1])) <= 1  # disjoint up to the padding repeat
    assert len(resumed[backend]) == processes
    for before, after in zip(ranks, resumed[backend]):
        assert [s["sum"] for s in after["steps"]] == [s["sum"] for s in before["steps"]][2:]
