"""Fuzz: a few hundred damaged JPEGs and PNGs (fixed seed) through both backends, train and eval,
on_error "skip" and "raise". No input may kill the process or hang it; every sample is either
delivered or skipped; every error and every skip names a damaged file, never a valid one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CPU_BACKENDS
from .fuzzing import write_fuzz_folder

JOB = Path(__file__).with_name("fuzz_job.py")


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    mutated, valid = write_fuzz_folder(root)
    return root, {str(p) for p in mutated}, {str(p) for p in valid}


@pytest.fixture(scope="module", params=CPU_BACKENDS)
def fuzzed(request, fuzz_folder) -> dict:
    """The job's results on one backend: {"train-skip": ..., "eval-raise": ...} (one interpreter)."""
    root = fuzz_folder[0]
    result = subprocess.run([sys.executable, str(JOB), str(root), request.param],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"the process died (exit {result.returncode}): {result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
@pytest.mark.parametrize("train", ["train", "eval"])
def test_skip_delivers_or_skips_every_sample_and_blames_only_damaged_files(fuzz_folder, fuzzed, train):
    _, mutated, valid = fuzz_folder
    out = fuzzed[f"{train}-skip"]
    assert out["total"] == len(mutated) + len(valid) == out["samples_per_epoch"]
    for epoch in out["epochs"]:
        assert epoch["error"] is None
        assert epoch["delivered"] + epoch["skipped"] == out["total"]
    assert out["epochs"][0]["skipped"] == out["epochs"][1]["skipped"] == len(out["skipped"])
    assert set(out["skipped"]) <= mutated, sorted(set(out["skipped"]) - mutated)[:5]
    assert len(out["skipped"]) > len(mutated) // 4  # the damage is real: many files are unreadable


@pytest.mark.timeout(900)
@pytest.mark.parametrize("train", ["train", "eval"])
def test_raise_stops_with_an_error_naming_a_damaged_file(fuzz_folder, fuzzed, train):
    _, mutated, _ = fuzz_folder
    out = fuzzed[f"{train}-raise"]
    for epoch in out["epochs"]:
        error = epoch["error"]
        assert error is not None and error["type"] in ("ImageDecodeError", "SourceError"), error
        named = [path for path in mutated if path in error["message"]]
        assert named, error["message"][:500]
