"""What the wheels bring of CUDA, and what they need from outside the environment: the measurement
behind the image's base (a CUDA `base` image, not `runtime` / `cudnn-runtime`).

Runs `ldd` on every shared library of torch and the `nvidia` packages (DALI, nvImageCodec, nvJPEG,
cuDNN, NCCL, torch's CUDA 13 libraries) and prints, as JSON: the CUDA libraries the environment
holds (name -> MiB), every library resolved outside it (the system's), and what resolves nowhere.
With `--check`, exits 1 when anything but the driver's own libraries (which the NVIDIA container
toolkit mounts at run time) is missing, or a CUDA library resolves outside the environment (a
copy in the base that the wheels would really use). Libraries opened with dlopen are not seen by
ldd; DALI opens the driver that way, and the image's smoke tests import and run both packages."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

DRIVER = re.compile(r"^lib(cuda|nvidia-ml|nvcuvid|nvidia-encode)\.so")  # the host's, mounted by the toolkit
CUDA = re.compile(r"^lib(cu|nv|nccl|cufft|curand|cusparse|cusolver|npp)")
_LINE = re.compile(r"^\s*(\S+) => (not found|\S+)")


def shared_libraries(site: Path) -> list[Path]:
    roots = [site / "torch", site / "nvidia"]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*.so*") if p.is_file())


def resolve(library: Path) -> dict[str, str]:
    ldd = shutil.which("ldd") or "/usr/bin/ldd"
    out = subprocess.run([ldd, str(library)], capture_output=True, text=True).stdout  # noqa: S603 - our own files
    return {m.group(1): m.group(2) for m in map(_LINE.match, out.splitlines()) if m}


def is_entry(library: Path, site: Path) -> bool:
    """What `import torch` and `import nvidia.dali` load (ldd then lists the whole closure): torch's
    extension and CUDA library, DALI's and nvImageCodec's own libraries. The rest are plugins opened
    on demand (NVSHMEM's MPI/UCX/libfabric transports, cuFile's RDMA), whose own needs (MPI, UCX,
    RDMA verbs) no CUDA base image provides either."""
    rel = library.relative_to(site).as_posix()
    return (rel.startswith("torch/_C.") or rel == "torch/lib/libtorch_cuda.so"
            or rel.startswith(("nvidia/dali/", "nvidia/nvimgcodec/")))


def audit(site: Path) -> dict:
    libraries = shared_libraries(site)
    names = {p.name for p in libraries}
    outside, missing, plugins = {}, {}, {}
    for library in libraries:
        entry = is_entry(library, site)
        for name, where in resolve(library).items():
            if where == "not found":
                if name in names:
                    continue  # a sibling its loader has loaded already (no RPATH of its own)
                (missing if entry else plugins).setdefault(name, library.relative_to(site).as_posix())
            elif not Path(where).resolve().is_relative_to(site.resolve()):
                outside[name] = where
    cuda = {p.name: round(p.stat().st_size / 2**20, 1) for p in libraries if CUDA.match(p.name)}
    return {"site_packages": str(site), "libraries": len(libraries),
            "cuda_libraries_in_env": dict(sorted(cuda.items())),
            "cuda_mib_in_env": round(sum(cuda.values())),
            "resolved_outside_env": dict(sorted(outside.items())),
            "not_found": dict(sorted(missing.items())),
            "plugins_needs_not_found": dict(sorted(plugins.items()))}


def problems(report: dict) -> list[str]:
    found = [f"{name} is needed (by {by}) and found nowhere" for name, by in report["not_found"].items()
             if not DRIVER.match(name)]
    found += [f"{name} resolves outside the environment ({where}): the base's copy is used"
              for name, where in report["resolved_outside_env"].items() if CUDA.match(name) and not DRIVER.match(name)]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    parser.add_argument("--check", action="store_true", help="exit 1 unless the wheels need only the driver")
    args = parser.parse_args(argv)
    report = audit(args.site)
    report["problems"] = problems(report)
    print(json.dumps(report, indent=1))
    return 1 if args.check and report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
