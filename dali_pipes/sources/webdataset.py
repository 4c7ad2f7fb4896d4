"""WebDataset tar shards (`KEY.jpg`/`KEY.png` + `KEY.cls`) as a random-access source.

Each shard gets an index (member offsets and labels), made on first use and cached next to the
shard (or in the user cache when the shard's folder is read-only). Samples are then read with
`os.pread` at their offsets, so the shards follow the same (seed, epoch) order, `drop_last` and
per-rank sharding as every other source, on both backends, in any number of worker processes.
Members with absolute or `..` paths are refused: nothing in a shard can point outside it.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..cache import FilePlace, default_cache_dir, stamped
from ..errors import SourceError
from .labels import INT64_MAX, INT64_MIN, check_class_indices, class_names

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "ppm", "pgm")
INDEX_VERSION = 2  # 2: labels beyond int64 are refused when indexing


def _split_key(name: str, shard: Path) -> tuple[str, str]:
    """WebDataset's rule: the key is the path up to the first dot of the basename."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise SourceError(f"shard {shard}: member {name!r} has an absolute or '..' path; refusing the shard")
    stem, _, ext = path.name.partition(".")
    return str(path.parent / stem), ext.lower()


def build_index(shard, fileobj=None) -> dict:
    """Scan one shard (a path, or `fileobj` named `shard`): per sample its key, image member
    offset/size and integer label."""
    samples: dict[str, dict] = {}
    try:
        with tarfile.open(None if fileobj is not None else shard, fileobj=fileobj, mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = _split_key(member.name, shard)
                entry = samples.setdefault(key, {})
                if ext in IMAGE_EXTENSIONS:
                    entry["image"] = (member.offset_data, member.size, member.name)
                elif ext == "cls":
                    raw = tar.extractfile(member).read().decode("utf-8", "replace").strip()
                    try:
                        entry["label"] = int(raw)
                    except ValueError:
                        raise SourceError(f"shard {shard}: member {member.name!r} holds {raw[:20]!r}, "
                                          "not an integer class index") from None
                    if not INT64_MIN <= entry["label"] <= INT64_MAX:
                        raise SourceError(f"shard {shard}: member {member.name!r} holds {raw[:30]}, which "
                                          "does not fit in a 64-bit integer")
    except tarfile.TarError as err:
        raise SourceError(f"shard {shard} is not a readable tar file: {err}") from None
    rows = []
    for key, entry in samples.items():
        if "image" not in entry:
            raise SourceError(f"shard {shard}: sample {key!r} has no image member "
                              f"(one of .{', .'.join(IMAGE_EXTENSIONS)})")
        if "label" not in entry:
            raise SourceError(f"shard {shard}: sample {key!r} ({entry['image'][2]}) has no .cls label member")
        rows.append([key, *entry["image"][:2], entry["label"]])
    return {"version": INDEX_VERSION, "samples": rows}


def load_index(shard: Path) -> dict:
    """The cached index if it matches the shard's size and mtime (beside the shard, else in the user
    cache), else a fresh one, cached."""
    stat = shard.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tag = hashlib.sha1(f"{shard.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode(),
                       usedforsecurity=False).hexdigest()[:16]
    places = [FilePlace(shard.with_name(shard.name + ".dpidx.json")),
              FilePlace(default_cache_dir() / "wds-index" / f"{tag}.json")]
    return stamped(places, pick=lambda cached: index_if_current(cached, stamp),
                   build=lambda: {**build_index(shard), "stamp": stamp})


def index_if_current(cached, stamp: dict) -> dict | None:
    """`cached` when it is an index of this version made from the data `stamp` describes."""
    if isinstance(cached, dict) and cached.get("version") == INDEX_VERSION and cached.get("stamp") == stamp:
        return cached
    return None


def find_shards(path: str | os.PathLike | list) -> list[Path]:
    if isinstance(path, (list, tuple)):
        shards = [Path(p) for p in path]
    else:
        path = Path(path)
        shards = sorted(path.glob("*.tar")) if path.is_dir() else [path]
    missing = [str(s) for s in shards if not s.is_file()]
    if missing:
        raise SourceError(f"shard file(s) not found: {', '.join(missing[:5])}")
    if not shards:
        raise SourceError(f"no .tar shards in {path}")
    return shards


class WebDatasetSource:
    encoded = True

    def __init__(self, shards, *, classes: list[str] | None = None, unlabeled: bool = False):
        self.shards = find_shards(shards)
        names_file = self.shards[0].parent / "classes.txt"
        names = (names_file.read_text(), str(names_file)) if classes is None and names_file.exists() else None
        self._assemble([load_index(shard)["samples"] for shard in self.shards], classes, names, unlabeled)
        self._fds: dict[tuple[int, int], int] = {}  # (process id, shard) -> descriptor
        self.data_dir = self.shards[0].parent
        stamps = [f"{s.resolve()}:{s.stat().st_size}:{s.stat().st_mtime_ns}" for s in self.shards]
        self.fingerprint = "wds:" + hashlib.sha1("\n".join(stamps).encode(), usedforsecurity=False).hexdigest()

    def _assemble(self, indexes: list[list], classes: list[str] | None, names: tuple[str, str] | None,
                  unlabeled: bool) -> None:
        """Samples, labels and class names from each shard's index rows (and `names`: the text of a
        classes.txt and where it came from, used when `classes` is not given)."""
        shard_ids, offsets, sizes, labels, self.keys = [], [], [], [], []
        for s, rows in enumerate(indexes):
            for key, offset, size, label in rows:
                shard_ids.append(s)
                offsets.append(offset)
                sizes.append(size)
                labels.append(label)
                self.keys.append(key)
        if not labels:
            raise SourceError(f"the shards hold no samples: {', '.join(map(str, self.shards[:3]))}")
        self._shard = np.asarray(shard_ids, dtype=np.int32)
        self._offset = np.asarray(offsets, dtype=np.int64)
        self._size = np.asarray(sizes, dtype=np.int64)
        self.targets = np.asarray(labels, dtype=np.int64)
        names_from = "classes"
        if classes is None and names is not None:
            classes, names_from = names[0].splitlines(), names[1]
        check_class_indices(self.targets, lambda i: f"{self.describe(i)}.cls", unlabeled=unlabeled,
                            num_classes=None if classes is None else len(classes), names_from=names_from)
        self.classes = class_names(classes, int(self.targets.max()) + 1, "classes")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.targets)

    def _fd(self, shard: int) -> int:
        """This process's descriptor of the shard (DataLoader workers fork). Read-ahead threads may
        open one at once: the first kept wins, the others are closed (`setdefault` is atomic)."""
        key = (os.getpid(), shard)
        fd = self._fds.get(key)
        if fd is None:
            opened = os.open(self.shards[shard], os.O_RDONLY)
            fd = self._fds.setdefault(key, opened)
            if fd != opened:
                os.close(opened)
        return fd

    def read(self, index: int) -> bytes:
        shard = int(self._shard[index])
        data = os.pread(self._fd(shard), int(self._size[index]), int(self._offset[index]))
        if len(data) != self._size[index]:
            raise SourceError(f"{self.describe(index)}: the shard ends early (truncated tar?)")
        return data

    def describe(self, index: int) -> str:
        return f"{self.shards[int(self._shard[index])]}:{self.keys[index]}"

    def __getstate__(self):
        return {**self.__dict__, "_fds": {}}

    def __del__(self, _getpid=os.getpid, _close=os.close):  # bound now: at exit `os` may be gone
        pid = _getpid()
        for (owner, _), fd in list(getattr(self, "_fds", {}).items()):
            if owner == pid:  # a forked child's copies of its parent's descriptors are not its own to close
                try:
                    _close(fd)
                except OSError:
                    pass

    def __repr__(self) -> str:
        return f"WebDatasetSource(shards={len(self.shards)}, samples={len(self)}, classes={len(self.classes)})"
