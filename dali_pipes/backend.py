"""Which engine runs: `auto`, `dali` (GPU when CUDA is there, else DALI's CPU mode), or torchvision.

`auto` prefers DALI on the GPU: decode and augmentation move off the CPU, which is the point of the
package. Without CUDA it still prefers DALI's CPU mode when DALI imports, because DALI's native
thread pool decodes and resizes faster than Python DataLoader workers on the same cores - unless the
train transform turns on an op that DALI's CPU operators run slower than torchvision's kernels (each
op says which CPU backend is faster for it, from measurement: `SampleOp.cpu_backend`); then, and when
DALI does not import, torchvision. It is decided from the configuration, never by timing at start-up.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch

BACKENDS = ("auto", "dali", "dali-gpu", "dali-cpu", "torchvision")


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "dali-gpu" | "dali-cpu" | "torchvision"
    reason: str
    device: torch.device  # where batches are delivered


@functools.lru_cache(maxsize=1)
def dali_import_error() -> str | None:
    """None when `nvidia.dali` imports, else why it does not."""
    try:
        import nvidia.dali  # noqa: F401
    except Exception as err:  # ImportError, or a broken install raising OSError
        return f"{type(err).__name__}: {err}"
    return None


def cuda_device(device) -> torch.device:
    """The CUDA device to use: the one given, else torchrun's LOCAL_RANK, else the current one."""
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda":
            return torch.device("cuda", dev.index if dev.index is not None else torch.cuda.current_device())
    if "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device("cuda", torch.cuda.current_device())


def slower_on_dali_cpu(train_cfg) -> list[str]:
    """The active train ops that the torchvision backend runs faster than DALI's CPU mode."""
    from .ops import active_ops

    return [] if train_cfg is None else [op.name for op in active_ops(train_cfg)
                                         if op.cpu_backend(train_cfg) == "torchvision"]


def resolve_backend(name: str, device=None, train_cfg=None) -> BackendChoice:
    """The engine for backend `name`; `auto` without CUDA also weighs `train_cfg` (the train
    transform of a train loader, else None): ops that DALI's CPU operators run slower than
    torchvision's kernels (`SampleOp.cpu_backend`, measured) send it to the torchvision backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    wants_cpu = device is not None and torch.device(device).type == "cpu"
    has_cuda = torch.cuda.is_available() and not wants_cpu
    dali_error = dali_import_error()

    if name == "torchvision":
        out = torch.device(device) if device is not None else torch.device("cpu")
        return BackendChoice("torchvision", "requested", out)
    if name in ("dali", "dali-gpu", "dali-cpu") and dali_error:
        raise RuntimeError(f"backend {name!r} needs NVIDIA DALI, which does not import ({dali_error}); "
                           "install nvidia-dali-cuda120 or use backend='torchvision'")
    if name == "dali-gpu":
        if not torch.cuda.is_available():
            from .cuda_env import current_verdict

            driver = current_verdict()
            why = "no CUDA GPU is visible" if driver.ok else driver.line
            raise RuntimeError(f"backend 'dali-gpu' cannot run: {why}")
        return BackendChoice("dali-gpu", "requested", cuda_device(device))
    if name == "dali-cpu":
        return BackendChoice("dali-cpu", "requested", torch.device("cpu"))
    if name == "dali":
        if has_cuda:
            return BackendChoice("dali-gpu", "DALI with CUDA available", cuda_device(device))
        return BackendChoice("dali-cpu", "DALI without CUDA: DALI's CPU-only mode", torch.device("cpu"))
    # auto
    if has_cuda and not dali_error:
        return BackendChoice("dali-gpu", "auto: CUDA and DALI available", cuda_device(device))
    slower = slower_on_dali_cpu(train_cfg)
    if not dali_error and not slower:
        return BackendChoice("dali-cpu", "auto: no CUDA GPU, DALI's CPU mode", torch.device("cpu"))
    if slower:
        return BackendChoice("torchvision", f"auto: no CUDA GPU, and the torchvision backend's kernels run "
                             f"{', '.join(slower)} faster than DALI's CPU operators (benchmarks/RESULTS.md)",
                             torch.device(device) if device is not None else torch.device("cpu"))
    return BackendChoice("torchvision", f"auto: DALI unavailable ({dali_error})",
                         torch.device(device) if device is not None else torch.device("cpu"))
