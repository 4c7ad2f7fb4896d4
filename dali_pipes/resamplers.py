"""How a DALI graph resizes, and the rules of choosing: the one home that make_loader, the DALI graph
and the CLI all ask."""

from __future__ import annotations

# How a DALI graph resizes: DALI's fn.resize (the only one on the GPU), or torchvision's kernel in a
# CPU graph (dali_pipes.dali.torch_resample)
RESAMPLERS = {"dali": "DALI's fn.resize", "torch": "torchvision's resize kernel inside DALI's CPU graph"}


def check_resampler(resampler) -> None:
    if resampler != "auto" and resampler not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {('auto', *RESAMPLERS)}, got {resampler!r}")


def resolve_resampler(resampler: str, backend: str) -> str:
    """`auto` -> torchvision's kernel on dali-cpu, DALI's fn.resize on dali-gpu; refusals name the argument."""
    check_resampler(resampler)
    if resampler == "torch" and backend == "dali-gpu":
        raise ValueError("resampler='torch' runs in DALI's CPU graph only; the dali-gpu backend resizes with "
                         "DALI's fn.resize (resampler='auto' or 'dali')")
    if resampler == "auto":
        return "torch" if backend == "dali-cpu" else "dali"
    return resampler
