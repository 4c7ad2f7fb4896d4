"""Where dali-pipes keeps what it computes once (the synthetic set, dataset statistics, shard
indexes), and how: atomically written JSON, looked for first beside the data, then in the user
cache, valid only while its stamp (sizes, mtimes, ETags) matches the data it was made from."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar

T = TypeVar("T")


def default_cache_dir() -> Path:
    """$DALI_PIPES_CACHE, else $XDG_CACHE_HOME/dali-pipes, else ~/.cache/dali-pipes."""
    base = os.environ.get("DALI_PIPES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "dali-pipes")
    return Path(base)


def write_json(path: Path, data, *, indent: int | None = None) -> None:
    """Write `data` as JSON to `path` through a temporary file and a rename (atomic on POSIX);
    raises OSError when the place is not writable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=indent))
    tmp.replace(path)


class Place(Protocol):
    """Somewhere a cache file may be: a local file, or an object in a store (sources.remote)."""

    def read_bytes(self) -> bytes: ...

    def write_bytes(self, data: bytes) -> None: ...


class FilePlace:
    """A local cache file, written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def write_bytes(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(self.path)


def _read(place: Place):
    try:
        return json.loads(place.read_bytes())
    except Exception:  # noqa: BLE001 - absent, unreadable or not JSON: as if there were nothing
        return None


def stamped(places: Sequence[Place], *, pick: Callable[[object], T | None], build: Callable[[], T],
            merge: Callable[[object, T], object] | None = None, indent: int | None = None) -> T:
    """What `pick` accepts in the first place that has it (its stamp matching the data: `pick`'s
    test), else `build()`, written to the first of `places` that takes the write (with `merge`,
    `merge(old contents or None, new)` is what is written there: a file that holds several
    entries). Unwritable places are passed over."""
    for place in places:
        found = pick(_read(place))
        if found is not None:
            return found
    value = build()
    for place in places:
        try:
            written = value if merge is None else merge(_read(place), value)
            place.write_bytes(json.dumps(written, indent=indent).encode())
            return value
        except Exception:  # noqa: BLE001, S112 - read-only data folder or store: the next place
            continue
    return value
