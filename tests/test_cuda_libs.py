"""docker/cuda_libs.py, the measurement behind the image's base: on a planted environment of real
shared libraries (gcc-built, one dependency deleted) it finds what `import` would miss and tells
it from an on-demand plugin's missing transport; on this machine's own environment (the image's
wheels) everything torch and DALI load resolves inside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docker" / "cuda_libs.py"
sys.path.insert(0, str(SCRIPT.parent))
import cuda_libs  # noqa: E402


def _gcc_lib(path: Path, needs: list[Path] = (), *, sources: Path) -> None:
    """A real shared library at `path` with a DT_NEEDED entry for each of `needs`."""
    source = sources / f"{path.name}.c"  # outside the scanned folders
    sources.mkdir(exist_ok=True)
    source.write_text("int answer(void) { return 42; }\n")
    links = ["-Wl,--no-as-needed", *(arg for lib in needs for arg in (f"-L{lib.parent}", f"-l:{lib.name}"))]
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(path), str(source), *links], check=True)


@pytest.fixture
def planted(tmp_path):
    if shutil.which("gcc") is None or shutil.which("ldd") is None:
        pytest.skip("needs gcc and ldd to build real shared libraries")
    site, src = tmp_path / "site", tmp_path / "src"
    (site / "nvidia" / "dali").mkdir(parents=True)
    (site / "nvidia" / "nvshmem" / "lib").mkdir(parents=True)
    gone = tmp_path / "elsewhere" / "libcublasfake.so.1"
    gone.parent.mkdir()
    _gcc_lib(gone, sources=src)
    _gcc_lib(site / "nvidia" / "dali" / "libdali_user.so", [gone], sources=src)  # what `import nvidia.dali` loads
    transport = tmp_path / "elsewhere" / "libucpfake.so.0"
    _gcc_lib(transport, sources=src)
    plugin = site / "nvidia" / "nvshmem" / "lib" / "nvshmem_transport_fake.so.3"  # opened on demand
    _gcc_lib(plugin, [transport], sources=src)
    gone.unlink()
    transport.unlink()
    return site


def test_a_missing_library_of_what_import_loads_fails_the_check(planted):
    out = subprocess.run([sys.executable, str(SCRIPT), "--site", str(planted), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["not_found"] == {"libcublasfake.so.1": "nvidia/dali/libdali_user.so"}
    assert report["plugins_needs_not_found"] == {"libucpfake.so.0": "nvidia/nvshmem/lib/nvshmem_transport_fake.so.3"}
    assert report["problems"] == ["libcublasfake.so.1 is needed (by nvidia/dali/libdali_user.so) and found nowhere"]


def test_a_plugins_missing_transport_alone_passes(planted):
    (planted / "nvidia" / "dali" / "libdali_user.so").unlink()
    assert subprocess.run([sys.executable, str(SCRIPT), "--site", str(planted), "--check"],
                          capture_output=True).returncode == 0


def test_a_cuda_library_from_outside_the_environment_is_a_problem():
    report = {"not_found": {}, "resolved_outside_env": {"libcudnn.so.9": "/usr/local/cuda/lib64/libcudnn.so.9",
                                                        "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}}
    assert cuda_libs.problems(report) == [
        "libcudnn.so.9 resolves outside the environment (/usr/local/cuda/lib64/libcudnn.so.9): the base's copy is used"]


def test_this_environment_needs_only_the_driver():
    site = Path(sysconfig.get_paths()["purelib"])
    if not (site / "nvidia" / "dali").exists() or not any((site / "nvidia").glob("cu*/lib")):
        pytest.skip(f"{site} has no DALI or no CUDA build of torch: not the image's wheels")
    report = cuda_libs.audit(site)
    assert cuda_libs.problems(report) == []
    assert report["cuda_mib_in_env"] > 1000  # cuBLAS, cuDNN, cuFFT, NCCL, ... come with the wheels
    assert {"libcudnn.so.9", "libnccl.so.2"} <= set(report["cuda_libraries_in_env"])
