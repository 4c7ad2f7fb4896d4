"""Which engine runs: `auto`, `dali` (GPU when CUDA is there, else DALI's CPU mode), or torchvision.

`auto` prefers DALI on the GPU: decode and augmentation move off the CPU, which is the point of the
package. Without CUDA it still prefers DALI's CPU mode when DALI imports, because DALI's native
thread pool decodes and resizes faster than Python DataLoader workers on the same cores - unless the
train transform's ops cost more there than on torchvision's kernels (each op states what it adds on
each CPU backend, measured: `SampleOp.cpu_cost`; the sums are compared); then, and when DALI does not
import, torchvision. It is decided from the configuration, never by timing at start-up.
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


# ms per image of the bare train recipe on each CPU backend (2 cores, benchmarks/augment_cost.py, two
# rounds in alternated order: RESULTS.md 2026-12-04); the ops add theirs (SampleOp.cpu_cost). Ratios
# matter, not the machine's absolute speed.
CPU_BASE_MS = {"dali-cpu": 0.69, "torchvision": 0.65}
# The torchvision backend only where its estimate is lower by more than this fraction: closer than
# that, the measurement cannot tell them apart (this machine's run-to-run spread), and DALI's CPU
# mode keeps what the estimate does not count - one read-ahead per process (parquet with 10 ms a
# read: 1,079 vs 746 images/s) and about half the memory (RESULTS.md).
TIE_MARGIN = 0.10


def cpu_estimates(train_cfg) -> dict[str, float]:
    """Estimated ms per image of `train_cfg` on each CPU backend: the bare recipe plus each active op."""
    from .ops import active_ops

    costs = dict(CPU_BASE_MS)
    for op in active_ops(train_cfg) if train_cfg is not None else []:
        dali_ms, torchvision_ms = op.cpu_cost(train_cfg)
        costs["dali-cpu"] += dali_ms
        costs["torchvision"] += torchvision_ms
    return costs


def resolve_backend(name: str, device=None, train_cfg=None) -> BackendChoice:
    """The engine for backend `name`; `auto` without CUDA also weighs `train_cfg` (the train
    transform of a train loader, else None): ops that DALI's CPU operators run slower than
    torchvision's kernels (`SampleOp.cpu_cost`, measured) can send it to the torchvision backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    wants_cpu = device is not None and torch.device(device).type == "cpu"
    has_cuda = torch.cuda.is_available() and not wants_cpu
    dali_error = dali_import_error()

    if name == "torchvision":
        return BackendChoice("torchvision", "requested", _delivered_at(device))
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
    costs = cpu_estimates(train_cfg)
    if not dali_error and costs["torchvision"] >= costs["dali-cpu"] * (1 - TIE_MARGIN):
        why = "" if train_cfg is None else (f" ({costs['dali-cpu']:.2f} vs {costs['torchvision']:.2f} ms per image "
                                            "on the torchvision backend, estimated from each op's measured cost)")
        return BackendChoice("dali-cpu", "auto: no CUDA GPU, DALI's CPU mode" + why, torch.device("cpu"))
    if not dali_error:
        return BackendChoice("torchvision", "auto: no CUDA GPU, and this train transform runs faster on the "
                             f"torchvision backend ({costs['torchvision']:.2f} vs {costs['dali-cpu']:.2f} ms per "
                             "image estimated from each op's measured cost, benchmarks/RESULTS.md)",
                             _delivered_at(device))
    return BackendChoice("torchvision", f"auto: DALI unavailable ({dali_error})", _delivered_at(device))


def _delivered_at(device) -> torch.device:
    """Where the torchvision backend delivers its batches: the device asked for, else the CPU."""
    return torch.device(device) if device is not None else torch.device("cpu")
