"""Where dali-pipes keeps what it computes once (the synthetic set, dataset statistics, shard
indexes), and how it writes there: atomically, so a reader never sees half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path


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
