"""Parquet files in the Hugging Face Hub's layout (`data/train-00000-of-00294.parquet`, `image` as
`{bytes, path}` structs or binary, a ClassLabel `label`) as a source, local or under a URL.

Parquet's footers give every row group's row count before a byte of image data is read, so the
epoch plan is exact: `sampling.RowGroupPlan` visits the row groups in a (seed, epoch) permutation,
shuffles samples within a window of `window` row groups, and gives each rank a contiguous range of
that sequence (no rank reads another's row groups). Labels are read once (their column only);
images are read a row group at a time (the image column only), on reader threads, and kept while
the window needs them: at most `2 x window` row groups per process (by default ~512 MiB).
"""

from __future__ import annotations

import glob as globlib
import hashlib
import io
import os
import posixpath
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..readers import ProcessReaders
from .base import ProcessLocal
from .hf import pick_columns, targets_and_classes

WINDOW_BYTES = 256 * 2**20  # the default window: as many row groups as hold this much image data
MAX_WINDOW = 64
GROUP_READERS = 8  # row groups read at once per process
PART = 256 * 2**10  # a row group's bytes are read in pieces of this size, at once where storage is slow
REMOTE_PART = 2 * 2**20  # ... and fetched from object storage in these (fewer requests; each one pays a round trip)
_SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)-\d{5}-of-\d{5}\.parquet$")


def split_of(path: str) -> str:
    """The split a Hub file belongs to: `SPLIT-0000K-of-0000N.parquet`, else its folder's name
    (the Hub's `refs/convert/parquet` layout: `CONFIG/SPLIT/0000.parquet`)."""
    name = posixpath.basename(path)
    match = _SHARD_NAME.match(name)
    return match["split"] if match else posixpath.basename(posixpath.dirname(path))


def is_glob(location: str) -> bool:
    """Whether a path or URL is a pattern (`*`, `?`, `[...]`) naming several files."""
    return any(ch in location for ch in "*?[")


class _Files:
    """The parquet files and how to open them: local paths, or objects under a URL (fsspec, with
    the store's retries)."""

    def __init__(self, location, storage_options: dict | None, split: str | None):
        from ..storage import Store, is_url

        self.store = None
        if isinstance(location, (list, tuple)):
            paths = [str(p) for p in location]
            if paths and all(is_url(p) for p in paths):
                self.store = Store(paths[0], storage_options)
                paths = [self.store.fs._strip_protocol(p) for p in paths]
            elif any(is_url(p) for p in paths):
                raise SourceError("parquet files: local paths and URLs mixed in one list")
        elif is_url(str(location)):
            self.store = Store(str(location), storage_options)
            paths = self._remote_paths(self.store.root)
        else:
            paths = self._local_paths(str(location).removeprefix("file://"))
        if not paths:
            raise SourceError(f"{location}: no .parquet files there")
        splits = sorted({split_of(p) for p in paths})
        if split is not None:
            paths = [p for p in paths if split_of(p) == split]
            if not paths:
                raise SourceError(f"{location}: no parquet files of split {split!r}; its splits: {splits}")
        elif len(splits) > 1:
            raise SourceError(f"{location}: parquet files of several splits {splits}: pass split= (e.g. "
                              f"ParquetSource(..., split={splits[-1]!r})) or a glob such as "
                              f"'{location}/data/{splits[-1]}-*.parquet'")
        self.paths = sorted(paths)
        self.location = str(location)
        self.sizes: dict[str, int] = {}
        self.readers = ProcessReaders(16)

    @staticmethod
    def _local_paths(location: str) -> list[str]:
        if is_glob(location):
            return [p for p in globlib.glob(os.path.expanduser(location), recursive=True) if p.endswith(".parquet")]
        path = Path(location).expanduser()
        if path.is_file():
            return [str(path)]
        if not path.is_dir():
            raise SourceError(f"{location}: no such file or folder")
        return [str(p) for p in path.rglob("*.parquet")]

    def _remote_paths(self, root: str) -> list[str]:
        store = self.store
        if is_glob(root):
            return store.call(f"listing {store.url}", store.fs.glob, root)
        if root.endswith(".parquet"):
            return [root]
        found = store.call(f"listing {store.url}", store.fs.find, root)
        return [p for p in found if p.endswith(".parquet")]

    def name(self, path: str) -> str:
        return self.store.url_of(path) if self.store is not None else path

    def call(self, what: str, function, path: str):
        """`function(file)` on the opened file (retried while a remote error is transient)."""
        import pyarrow as pa

        def opened():
            with self.store.fs.open(path, "rb", cache_type="none") as f:
                return function(f)

        try:
            return function(path) if self.store is None else self.store.call(what, opened)
        except (OSError, pa.ArrowException) as err:  # a missing, unreadable or damaged file
            raise SourceError(f"{what}: {err}") from None

    def stamp(self, path: str) -> str:
        """What tells the file changed (its size and mtime or ETag); records its size."""
        if self.store is None:
            stat = os.stat(path)
            self.sizes[path] = stat.st_size
            return f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}"
        from ..storage import object_stamp

        info = self.store.call(f"file {self.name(path)}", self.store.fs.info, path)
        self.sizes[path] = int(info["size"])
        return f"{self.name(path)}:{object_stamp(info)}"

    def fetch(self, path: str, start: int, end: int, what: str) -> bytes:
        """Bytes [start, end) of the file, in pieces read at once: by the store's concurrent,
        retried ranged reads, or locally on reader threads where storage is slow."""
        bounds = list(range(start, end, PART if self.store is None else REMOTE_PART)) + [end]
        if self.store is not None:
            parts = self.store.fetch([path] * (len(bounds) - 1), bounds[:-1], bounds[1:])
            failed = [part for part in parts if isinstance(part, BaseException)]
            if failed:
                raise SourceError(f"{what}: {failed[0]}")
            return b"".join(parts)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise SourceError(f"{what}: {err}") from None
        try:
            parts = self.readers.map(lambda lo_hi: os.pread(fd, lo_hi[1] - lo_hi[0], lo_hi[0]),
                                     list(zip(bounds[:-1], bounds[1:])))
        except OSError as err:
            raise SourceError(f"{what}: {err}") from None
        finally:
            os.close(fd)
        data = b"".join(parts)
        if len(data) != end - start:
            raise SourceError(f"{what}: the file ends early ({len(data)} of {end - start} bytes)")
        return data


class ParquetSource(ProcessLocal):
    """One split of parquet files in the Hub's layout: a folder (searched recursively), a glob, a
    file, a list of files, or any of these under an s3://, gs://, https:// or hf:// URL.
    `window`: row groups whose samples are shuffled together (default: as many as hold 256 MiB of
    image data, from the footers; the memory: up to 2 x window row groups per process); `split`:
    which split, where the files hold several; `features`: the `datasets.Features` to read them by
    (default: the files' own Hugging Face metadata)."""

    encoded = True
    _LOCAL = ("_lock", "_cache", "_pool")

    def __init__(self, location, *, image_column: str | None = None, label_column: str | None = None,
                 unlabeled: bool = False, split: str | None = None, window: int | None = None,
                 storage_options: dict | None = None, features=None):
        import pyarrow.parquet as pq
        from datasets import Features

        if not (window is None or isinstance(window, int) and window >= 1):
            raise ValueError(f"ParquetSource window: a positive number of row groups, got {window!r}")
        self._files = _Files(location, storage_options, split)
        paths = self._files.paths
        self._meta = [self._files.call(f"reading the footer of {self._files.name(p)}", pq.read_metadata, p)
                      for p in paths]
        schema = self._meta[0].schema.to_arrow_schema()
        for path, meta in zip(paths[1:], self._meta[1:]):
            if meta.schema.to_arrow_schema().remove_metadata() != schema.remove_metadata():
                raise SourceError(f"{self._files.name(path)}: its columns differ from {self._files.name(paths[0])}'s")
        features = features if features is not None else Features.from_arrow_schema(schema)
        self.image_column, self.label_column, kind, classlabel = pick_columns(
            features, image_column, label_column, _is_image,
            images="encoded images (an Image feature, a {bytes, path} struct or binary)")
        # (file, row group) of each row group in index order, and their first rows
        self._groups = [(f, g) for f, meta in enumerate(self._meta) for g in range(meta.num_row_groups)]
        self.row_groups = tuple(self._meta[f].row_group(g).num_rows for f, g in self._groups)
        self._starts = np.concatenate([[0], np.cumsum(self.row_groups)]).astype(np.int64)
        self.window = window or self._default_window()
        self.targets, self.classes = targets_and_classes(self._read_labels(), kind, classlabel, self.label_column,
                                                         unlabeled=unlabeled,
                                                         name=lambda i: f"{self.describe(i)}: its label")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        digest = hashlib.sha1(usedforsecurity=False)
        for path in paths:
            digest.update(f"{self._files.stamp(path)}\n".encode())
        self.fingerprint = f"parquet:{digest.hexdigest()}:{self.image_column}"
        self.data_dir = os.path.dirname(paths[0]) if self._files.store is None else None
        self._reset()

    def _image_chunks(self, f: int, g: int) -> list:
        """The footer's column chunks of the image column (a struct's fields are chunks of their own)
        in row group `g` of file `f`."""
        group = self._meta[f].row_group(g)
        chunks = [group.column(k) for k in range(group.num_columns)]
        return [chunk for chunk in chunks if chunk.path_in_schema.split(".")[0] == self.image_column]

    def _default_window(self) -> int:
        """As many row groups as hold WINDOW_BYTES of (compressed) image data, from the footers."""
        largest = max(sum(chunk.total_compressed_size for chunk in self._image_chunks(f, g)) for f, g in self._groups)
        return max(1, min(MAX_WINDOW, WINDOW_BYTES // max(1, largest)))

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, Future] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None

    def _read_labels(self) -> list:
        import pyarrow.parquet as pq

        labels: list = []
        for f, path in enumerate(self._files.paths):
            def read(file, meta=self._meta[f]):
                return pq.ParquetFile(file, metadata=meta).read(columns=[self.label_column])

            table = self._files.call(f"reading column {self.label_column!r} of {self._files.name(path)}", read, path)
            labels += table.column(self.label_column).to_pylist()
        return labels

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, index: int) -> tuple[int, int]:
        """(row group ordinal, row within it) of sample `index`."""
        group = int(np.searchsorted(self._starts, index, side="right")) - 1
        return group, index - int(self._starts[group])

    def describe(self, index: int) -> str:
        group, row = self._locate(int(index))
        f, g = self._groups[group]
        return f"{self._files.name(self._files.paths[f])} row group {g} row {row} (column {self.image_column!r})"

    def _load(self, group: int) -> list:
        """The image bytes of every row of one row group (a SourceError in place of a row without
        them): the image column's byte range fetched at once (`_Files.fetch`), then decoded by
        pyarrow from memory."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        f, g = self._groups[group]
        path = self._files.paths[f]
        what = f"{self._files.name(path)} row group {g}"
        start, end = self._chunk_range(f, g)
        window = _Window(self._files.fetch(path, start, end, f"reading column {self.image_column!r} of {what}"),
                         start, self._files.sizes[path])
        columns = [self.image_column]
        try:
            table = pq.ParquetFile(window, metadata=self._meta[f]).read_row_group(g, columns=columns)
        except _OutsideWindow:  # a writer whose reader wants more than the chunks: read the file itself
            table = self._files.call(f"reading column {self.image_column!r} of {what}", lambda file: pq.ParquetFile(
                file, metadata=self._meta[f]).read_row_group(g, columns=columns), path)
        except (OSError, pa.ArrowException) as err:
            raise SourceError(f"reading column {self.image_column!r} of {what}: {err}") from None
        column = table.column(self.image_column)
        if pa.types.is_struct(column.type):
            column = column.combine_chunks().field("bytes")
        cells = column.to_pylist()
        return [cell if cell else SourceError(f"{self.describe(int(self._starts[group]) + r)}: the cell holds no "
                                              "encoded image bytes") for r, cell in enumerate(cells)]

    def _chunk_range(self, f: int, g: int) -> tuple[int, int]:
        """[start, end) of the image column's chunks in row group `g` of file `f` (from the footer)."""
        starts, ends = [], []
        for chunk in self._image_chunks(f, g):
            first = chunk.dictionary_page_offset if chunk.has_dictionary_page and chunk.dictionary_page_offset \
                else chunk.data_page_offset
            starts.append(first)
            ends.append(first + chunk.total_compressed_size)
        return min(starts), max(ends)

    def _groups_of(self, groups) -> dict[int, list | SourceError]:
        """Each row group's rows, read on the reader threads where not kept; failures in place."""
        if os.getpid() != self._pid:  # a forked worker: its own cache and readers
            self._reset()
        mine: list[tuple[int, Future]] = []
        with self._lock:
            futures = {}
            for group in groups:
                future = self._cache.get(group)
                if future is None:
                    future = Future()
                    self._cache[group] = future
                    mine.append((group, future))
                self._cache.move_to_end(group)
                futures[group] = future
            while len(self._cache) > 2 * self.window + len(futures):
                self._cache.popitem(last=False)
            if len(mine) > 1 and self._pool is None:
                self._pool = ThreadPoolExecutor(GROUP_READERS, thread_name_prefix="dali-pipes-parquet")
        for group, future in mine[1:]:
            self._pool.submit(self._fill, group, future)
        if mine:
            self._fill(*mine[0])
        out = {}
        for group, future in futures.items():
            try:
                out[group] = future.result()
            except SourceError as err:
                out[group] = err
        return out

    def _fill(self, group: int, future: Future) -> None:
        try:
            future.set_result(self._load(group))
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the row group
            with self._lock:
                if self._cache.get(group) is future:  # a failure is not kept: the next read tries again
                    del self._cache[group]
            future.set_exception(err)

    def read_batch(self, indices) -> list:
        """The samples' bytes, their row groups read at once (a SourceError in place of a sample
        whose row group or cell could not be read)."""
        located = [self._locate(int(i)) for i in indices]
        rows = self._groups_of(dict.fromkeys(group for group, _ in located))
        return [rows[group] if isinstance(rows[group], SourceError) else rows[group][row] for group, row in located]

    def read(self, index: int) -> bytes:
        data = self.read_batch([index])[0]
        if isinstance(data, SourceError):
            raise data
        return data

    def __repr__(self) -> str:
        return (f"ParquetSource({self._files.location!r}, files={len(self._files.paths)}, "
                f"row_groups={len(self.row_groups)}, rows={len(self)}, classes={len(self.classes)})")


def _is_image(feature) -> bool:
    from datasets import Image, Value

    if isinstance(feature, Image):
        return True
    if isinstance(feature, Value) and feature.dtype in ("binary", "large_binary"):
        return True
    return isinstance(feature, dict) and set(feature) == {"bytes", "path"}


def iterable_source(dataset, **options):
    """A `datasets.IterableDataset` streaming parquet files (`load_dataset("parquet" or a Hub repo,
    streaming=True)`), read through those files: the exact order, DDP split and resume of
    `ParquetSource`, with the dataset's own features (its ClassLabel names, casts). One whose
    examples are not the files' rows as stored (a generator, a map, a filter, a shuffle) is read
    through its own iteration (`sources.stream.StreamedSource`, weaker guarantees)."""
    ex = getattr(dataset, "_ex_iterable", None)  # datasets keeps the files on its examples iterable
    builder = getattr(getattr(ex, "generate_tables_fn", None), "__self__", None)
    kwargs = getattr(ex, "kwargs", {}) or {}
    files = [str(f) for f in kwargs.get("files") or []]
    parquet_builder = any(f"{c.__module__}.{c.__name__}" == "datasets.packaged_modules.parquet.parquet.Parquet"
                          for c in type(builder).__mro__)  # also a repository's subclass of it
    if getattr(dataset, "_distributed", None) is not None:
        raise SourceError("this IterableDataset went through split_dataset_by_node: pass it as loaded; dali-pipes "
                          "divides it among the ranks itself (every rank the same number of batches)")
    config = getattr(builder, "config", None)
    subset = getattr(config, "filters", None) is not None or any(groups is not None for groups in
                                                                 kwargs.get("row_groups_list") or [])
    if type(ex).__name__ != "ArrowExamplesIterable" or not parquet_builder or not files or subset:
        from .stream import StreamedSource  # a map, filter, shuffle, generator: its own iteration

        return StreamedSource(dataset, **options)
    storage = getattr(builder, "storage_options", None) or None
    if storage is not None and not any("://" in f for f in files):
        storage = None
    return ParquetSource(files, features=dataset.features, storage_options=storage, **options)


class _OutsideWindow(OSError):
    """pyarrow read beyond the fetched byte range."""


class _Window(io.RawIOBase):
    """A read-only file of `size` bytes of which only [start, start + len(data)) is held: what
    pyarrow reads of a row group's column once its byte range is fetched (a read elsewhere fails,
    naming the offset)."""

    def __init__(self, data: bytes, start: int, size: int):
        super().__init__()
        self._data, self._start, self._size, self._pos = memoryview(data), start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        lo = self._pos - self._start
        if lo < 0 or lo + want > len(self._data):
            raise _OutsideWindow(f"read of {want} bytes at offset {self._pos}: outside the column's byte range "
                          f"[{self._start}, {self._start + len(self._data)})")
        buffer[:want] = self._data[lo: lo + want]
        self._pos += want
        return want
