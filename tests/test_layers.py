"""The layering contract (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and the
check it runs catches what it names: a lazy upward import and an import cycle planted in a copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def lint(project: Path) -> subprocess.CompletedProcess:
    if not Path(LINT).exists():
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    return subprocess.run([LINT, "--config", str(project / "pyproject.toml"), "--no-cache"], cwd=project,
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(project),
                                                                            "PATH": "/usr/bin:/bin"})


def test_the_package_keeps_its_layers():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path):
    shutil.copytree(ROOT / "dali_pipes", tmp_path / "dali_pipes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {line}\n")


def test_a_lazy_upward_import_breaks_the_layers(copy):
    plant(copy / "dali_pipes/ops/blur.py", "from ..loader import make_loader  # noqa")
    result = lint(copy)
    assert result.returncode != 0
    assert "dali_pipes.ops.blur -> dali_pipes.loader" in result.stdout


def test_dali_and_torchvision_engines_stay_apart(copy):
    plant(copy / "dali_pipes/tv/engine.py", "from ..dali import graph  # noqa")
    result = lint(copy)
    assert result.returncode != 0
    assert "dali_pipes.tv.engine -> dali_pipes.dali.graph" in result.stdout


def test_a_cycle_inside_a_layer_is_refused(copy):
    plant(copy / "dali_pipes/storage.py", "from .sources import resolve_source  # noqa")
    result = lint(copy)
    assert result.returncode != 0
    assert "no import cycles" in result.stdout and "BROKEN" in result.stdout
