"""What a container's limits do to a run, reproduced for real on this machine (the defects a real
image build showed, #25): a 64 MB-style /dev/shm that DataLoader workers fill (a tmpfs of 256 KiB
mounted over /dev/shm in a private mount namespace), and a results folder the image's non-root user
cannot write (a folder owned by root, the command run as uid 1001). Each must fail at once with a
message that says what to do, not after the work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_ROOT = "needs root (a mount namespace, or switching to another uid): CI runs as root"


def _env():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@pytest.mark.timeout(300)
def test_a_small_dev_shm_says_to_raise_shm_size(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip(NOT_ROOT + " and util-linux's unshare")
    child = tmp_path / "child.py"
    child.write_text(
        "import sys\n"
        "from dali_pipes import make_loader\n"
        "from dali_pipes.synthetic import make_synthetic_imagefolder\n"
        "root = make_synthetic_imagefolder(sys.argv[1], num_images=32, num_classes=2)\n"
        "with make_loader(root, train=True, batch_size=16, backend='torchvision', num_threads=2, seed=0) as loader:\n"
        "    for _ in loader:\n"
        "        pass\n")
    script = f"mount -t tmpfs -o size=256k tmpfs /dev/shm && exec {sys.executable} {child} {tmp_path / 'photos'}"
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=240,
                            env=_env())
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ran out of shared memory" in last and "--shm-size" in last and "/dev/shm" in last, last  # noqa: S108


@pytest.mark.timeout(300)
def test_an_unwritable_results_folder_fails_before_the_benchmark(tmp_path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip(NOT_ROOT + " and util-linux's setpriv")
    results = tmp_path / "results"
    results.mkdir(mode=0o755)  # root's, as Compose creates a missing bind-mount source
    tmp_path.chmod(0o755)
    command = ["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", sys.executable, "-m", "dali_pipes.cli",
               "bench", "--images", "8", "--out", str(results)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=_env(), cwd=tmp_path)
    if "cannot write there" not in result.stderr and "Permission denied" in result.stderr:
        pytest.skip(f"uid 1001 cannot read the project or its Python here: {result.stderr[-300:]}")
    assert result.returncode != 0
    assert f"bench --out {results}: cannot write there" in result.stderr and "uid 1001" in result.stderr
    assert "--user" in result.stderr
    assert time.perf_counter() - start < 60  # refused at the start, not after the run
    assert not list(results.iterdir())
