"""Field checks every config dataclass uses: a bad value fails where it is written, naming the field."""

from __future__ import annotations

from .errors import ConfigError


def require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: {message}")


def pair(value, where: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a pair of numbers (low, high), got {value!r}") from None
    require(lo <= hi, where, f"low must not exceed high, got ({lo}, {hi})")
    return lo, hi


def triple(value, where: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected 3 numbers (one per RGB channel), got {value!r}") from None
    require(len(out) == 3, where, f"expected 3 numbers (one per RGB channel), got {len(out)}")
    return out


def positive_int(value, where: str) -> int:
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
            where, f"expected a positive integer, got {value!r}")
    return value


def probability(value, where: str) -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1, where,
            f"is a probability in [0, 1], got {value!r}")


def each_field(obj, names, ok, expected: str) -> None:
    """`require(ok(value))` for each named field of the dataclass `obj`, naming `Class.field`."""
    for name in names:
        value = getattr(obj, name)
        require(ok(value), f"{type(obj).__name__}.{name}", f"{expected}, got {value!r}")


def writable_folder(path, what: str):
    """`path` (a folder, made if missing) where this process can write, checked by writing: before
    the work that ends by writing there (a benchmark, a training run) rather than after it. A
    ConfigError names the folder, the user and the usual fix for a container's bind mount."""
    import os
    import tempfile
    from pathlib import Path

    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dali-pipes-write-check-"):
            pass
    except OSError as err:
        uid = os.getuid() if hasattr(os, "getuid") else "?"
        raise ConfigError(
            f"{what} {folder}: cannot write there ({err.strerror or err}) as uid {uid}; make it writable by this "
            "user first (a container's bind mount: create the folder on the host and give it to the image's "
            "uid, or run the container with --user $(id -u):$(id -g); docs/docker.md)") from None
    return folder
