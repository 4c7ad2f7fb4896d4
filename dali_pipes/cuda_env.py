"""Which CUDA the NVIDIA driver serves, and whether that covers both CUDA builds in use.

torch's wheel and DALI's wheel are built for their own CUDA versions (torch 2.14's default wheels
for CUDA 13, `nvidia-dali-cuda120` for CUDA 12); the driver must serve the newer of the two. When
it does not, torch sees no GPU and DALI cannot start: this module turns that into one line saying
what to install, for `dali-pipes info` and the dali-gpu backend's error.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from pathlib import Path

# The oldest Linux driver branch that serves each CUDA major version (NVIDIA's compatibility table).
MIN_DRIVER = {11: "450", 12: "525", 13: "580"}


def _cuda_tuple(version) -> tuple[int, int] | None:
    """(major, minor) from "13.0", or from CUDA's integer encoding 12080 / 12986 (major*1000 + minor*10)."""
    if version is None:
        return None
    if isinstance(version, int):
        return version // 1000, (version % 1000) // 10
    found = re.match(r"(\d+)\.(\d+)", str(version))
    return (int(found.group(1)), int(found.group(2))) if found else None


def driver_version() -> str | None:
    """The kernel driver's version, e.g. "580.65.06" (Linux), or None without an NVIDIA driver."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module\s+(?:for \w+\s+)?([\d.]+)", text)
    return found.group(1) if found else None


def driver_cuda() -> tuple[int, int] | None:
    """The newest CUDA version the installed driver serves (`cuDriverGetVersion`), or None."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        value = ctypes.c_int(0)
        if libcuda.cuDriverGetVersion(ctypes.byref(value)) != 0:
            return None
        return _cuda_tuple(value.value)
    except (OSError, AttributeError):
        return None


def builds() -> dict[str, tuple[int, int]]:
    """The CUDA version each installed build was made for: torch's and DALI's."""
    out = {}
    import torch

    if _cuda_tuple(torch.version.cuda):
        out[f"torch {torch.__version__}"] = _cuda_tuple(torch.version.cuda)
    try:
        import nvidia.dali as dali
    except Exception:  # DALI absent or broken: only torch's build counts then
        return out
    if _cuda_tuple(getattr(dali, "__cuda_version__", None)):
        out[f"DALI {dali.__version__}"] = _cuda_tuple(dali.__cuda_version__)
    return out


@dataclass(frozen=True)
class DriverVerdict:
    ok: bool
    line: str


def verdict(driver: str | None, serves: tuple[int, int] | None, needs: dict[str, tuple[int, int]]) -> DriverVerdict:
    """Whether a driver serving CUDA `serves` runs every build in `needs`, in one line."""
    if serves is None:
        return DriverVerdict(False, "no NVIDIA driver found (dali-gpu needs one; dali-cpu and torchvision do not)")
    name = f"driver {driver} " if driver else "the driver "
    short = {build: cuda for build, cuda in needs.items() if cuda > serves}
    served = ", ".join(f"{build} (CUDA {c[0]}.{c[1]})" for build, c in needs.items())
    if not short:
        return DriverVerdict(True, f"{name}serves CUDA {serves[0]}.{serves[1]}: enough for {served}")
    newest = max(short.values())
    branch = MIN_DRIVER.get(newest[0])
    fix = f"install an NVIDIA driver >= {branch}" if branch else \
        f"install a driver serving CUDA {newest[0]}.{newest[1]}"
    builds_short = ", ".join(f"{b} needs CUDA {c[0]}.{c[1]}" for b, c in short.items())
    return DriverVerdict(False, f"{name}serves CUDA {serves[0]}.{serves[1]} but {builds_short}: {fix}, or install "
                                f"builds for CUDA {serves[0]} (e.g. a torch wheel for CUDA {serves[0]})")


def current_verdict() -> DriverVerdict:
    return verdict(driver_version(), driver_cuda(), builds())
