"""The public API is what a type checker sees: mypy on a user's script written from the README's calls
(tests/typing/readme_usage.py) finds nothing, and finds a misspelt field, a wrong type, an unknown
argument and a misspelt method in a script that has them. The package ships `py.typed` (PEP 561)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MISTAKES = '''
from dali_pipes import ColorJitter, TrainTransform, make_loader
TrainTransform(color_jiter=ColorJitter(0.4))
TrainTransform(color_jitter=3)
make_loader("data", train=True, batch_size="8")
loader = make_loader("data", train=True, batch_size=8, num_workerz=3)
loader.set_epch(3)
'''


@pytest.fixture(scope="module")
def mypy_out(tmp_path_factory) -> str:
    """One mypy run over both scripts (each error line names its file)."""
    pytest.importorskip("mypy", reason="mypy comes with the test extra (through the lint extra)")
    tmp = tmp_path_factory.mktemp("mypy")
    (tmp / "mistakes.py").write_text(MISTAKES)
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp / "cache"),
                             str(ROOT / "tests" / "typing" / "readme_usage.py"), str(tmp / "mistakes.py")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.stdout + result.stderr


def test_a_script_from_the_readme_type_checks(mypy_out):
    assert "readme_usage.py" not in mypy_out, mypy_out
    assert "checked 2 source files" in mypy_out, mypy_out


def test_mistakes_are_seen_by_the_type_checker(mypy_out):
    for expected in ('Unexpected keyword argument "color_jiter" for "TrainTransform"',
                     'Argument "color_jitter" to "TrainTransform" has incompatible type "int"',
                     'Argument "batch_size" to "make_loader" has incompatible type "str"',
                     'Unexpected keyword argument "num_workerz" for "make_loader"',
                     '"Loader" has no attribute "set_epch"'):
        assert expected in mypy_out, mypy_out
    assert "Found 5 errors in 1 file" in mypy_out, mypy_out


def test_the_package_ships_py_typed():
    assert (ROOT / "dali_pipes" / "py.typed").is_file()
    # the wheel carries it (docker/ci-image.sh checks it in the image's installed package)
    assert '[tool.setuptools.package-data]\ndali_pipes = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
