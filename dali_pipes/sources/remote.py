"""Sources in object storage: an ImageFolder tree or WebDataset shards under an s3://, gs://,
https:// (any fsspec) URL, and saved Hugging Face datasets where `datasets` reads the URL.

They behave as their local counterparts (same classes, labels, sample order and bytes, so the same
pixels), and read differently: a batch's objects (folders) or byte ranges (shards) are fetched
concurrently, and the loader's read-ahead (dali.prefetch) asks for the batches it will read next
while it decodes the current ones. The tree is listed once per loader; a shard's index is
built once and cached beside the shard when the store is writable, else in the user cache, keyed by
the shard's URL, size and ETag.
"""

from __future__ import annotations

import hashlib
import posixpath

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS

from ..cache import FilePlace, default_cache_dir, stamped
from ..errors import SourceError
from ..storage import Store, etag_of, object_stamp
from .base import detect_layout, refuse_folder_options
from .parquet import ParquetSource, is_glob
from .webdataset import WebDatasetSource, build_index, index_if_current

INDEX_SUFFIX = ".dpidx.json"


class RemoteReads:
    """Batched reads for a source whose sample i is (path, start, end) in `self.store`: a batch's
    objects or ranges are fetched concurrently (the loader's read-ahead asks for the coming batches
    while the current ones decode)."""

    store: Store

    def _requests(self, indices) -> tuple[list[str], list, list]:
        raise NotImplementedError

    def _fetch(self, indices) -> list:
        return self.store.fetch(*self._requests(indices))

    def read(self, index: int) -> bytes:
        data = self._fetch([index])[0]
        if isinstance(data, SourceError):
            raise data
        return data

    def read_batch(self, indices) -> list:
        """The batch's bytes, a SourceError in place of each object that could not be read."""
        return self._fetch(list(indices))


def _relative(store: Store, path: str) -> str:
    return posixpath.relpath(path, store.root) if store.root else path


class RemoteImageFolderSource(RemoteReads):
    """An ImageFolder tree under a URL: classes are the first-level folders, sorted; samples in
    torchvision's `make_dataset` order; only torchvision's image extensions."""

    encoded = True
    data_dir = None  # statistics are cached in the user cache, keyed by the fingerprint

    def __init__(self, url: str, storage_options: dict | None = None, *, listing: dict | None = None):
        self.store = Store(url, storage_options)
        self.url = self.store.url
        if listing is None:
            listing = self.store.call(f"listing {self.url}", self.store.fs.find, self.store.root, detail=True)
        files: dict[str, dict] = {}
        for path, info in listing.items():
            rel = _relative(self.store, path)
            if info.get("type", "file") == "file" and "/" in rel and not rel.startswith("../"):
                files[rel] = info
        if not files:
            raise SourceError(f"{self.url}: no objects in class folders under this URL (a missing prefix? "
                              "expected URL/CLASS_NAME/IMAGE)")
        by_class: dict[str, list[str]] = {}  # one pass over the listing (ImageNet: 1.28 M objects)
        for rel in files:
            by_class.setdefault(rel.split("/", 1)[0], []).append(rel)
        self.classes = sorted(by_class)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        samples, empty = [], []
        for name in self.classes:  # torchvision's make_dataset: sorted(os.walk(...)), then sorted names
            chosen = sorted((rel for rel in by_class[name] if rel.lower().endswith(IMG_EXTENSIONS)),
                            key=lambda rel: (posixpath.dirname(rel), posixpath.basename(rel)))
            if not chosen:
                empty.append(name)
            samples += [(rel, self.class_to_idx[name]) for rel in chosen]
        if empty:
            raise SourceError(f"{self.url}: no image files for class(es) {', '.join(empty[:5])} "
                              f"(extensions: {', '.join(IMG_EXTENSIONS)})")
        self._paths = [posixpath.join(self.store.root, rel) if self.store.root else rel for rel, _ in samples]
        self._sizes = [files[rel].get("size") for rel, _ in samples]
        self.targets = np.asarray([label for _, label in samples], dtype=np.int64)
        digest = hashlib.sha1(usedforsecurity=False)
        for (rel, label), size in zip(samples, self._sizes):
            digest.update(f"{rel}|{label}|{size}|{etag_of(files[rel])}\n".encode())
        self.fingerprint = f"remote-folder:{self.url}:{digest.hexdigest()}"

    @property
    def samples(self) -> list[tuple[str, int]]:
        """(URL, class index) per sample, as ImageFolder's `samples`."""
        return [(self.store.url_of(path), int(label)) for path, label in zip(self._paths, self.targets)]

    def _requests(self, indices):
        """Whole objects, as ranges where the listing gave the size: one GET each (a client asked
        for a whole object of unknown size may ask its size first)."""
        sizes = [self._sizes[i] for i in indices]
        return ([self._paths[i] for i in indices], [None if size is None else 0 for size in sizes],
                [None if size is None else int(size) for size in sizes])


    def __len__(self) -> int:
        return len(self._paths)

    def describe(self, index: int) -> str:
        return self.store.url_of(self._paths[index])

    def __repr__(self) -> str:
        return f"RemoteImageFolderSource({self.url!r}, samples={len(self)}, classes={len(self.classes)})"


class StorePlace:
    """An object in the store as a cache place (beside a shard)."""

    def __init__(self, store: Store, path: str):
        self.store, self.path = store, path

    def read_bytes(self) -> bytes:
        return self.store.fs.cat_file(self.path)

    def write_bytes(self, data: bytes) -> None:
        self.store.write_bytes(self.path, data)


def load_remote_index(store: Store, path: str, info: dict) -> dict:
    """The shard's index: beside it (PATH.dpidx.json) or in the user cache when its stamp (size,
    ETag) matches the shard's, else built by streaming the shard once and cached (beside it when
    the store takes writes, else in the user cache)."""
    url = store.url_of(path)
    stamp = object_stamp(info)
    tag = hashlib.sha1(f"{url}|{stamp['size']}|{stamp['etag']}".encode(), usedforsecurity=False).hexdigest()[:16]
    usable = stamp["size"] is not None or stamp["etag"] is not None  # else no way to tell it changed
    places = [StorePlace(store, path + INDEX_SUFFIX),
              FilePlace(default_cache_dir() / "wds-index" / f"remote-{tag}.json")] if usable else []

    def scan():
        with store.fs.open(path, "rb", block_size=8 * 2**20) as f:
            return {**build_index(url, fileobj=f), "stamp": stamp}

    return stamped(places, pick=lambda cached: index_if_current(cached, stamp),
                   build=lambda: store.call(f"reading shard {url}", scan))


class RemoteWebDatasetSource(RemoteReads, WebDatasetSource):
    """WebDataset shards under a URL (a `.tar` URL, or the `.tar` objects directly under a prefix,
    sorted); `classes.txt` beside them names the classes. Samples are ranged reads of the shards."""

    data_dir = None

    def __init__(self, url: str, storage_options: dict | None = None, *, classes: list[str] | None = None,
                 unlabeled: bool = False, listing: dict | None = None):
        self.store = Store(url, storage_options)
        self.url = self.store.url
        fs, root = self.store.fs, self.store.root
        if root.endswith(".tar"):
            infos = {root: self.store.call(f"shard {self.url}", fs.info, root)}
            folder = posixpath.dirname(root)
        else:
            if listing is None:
                listing = self.store.call(f"listing {self.url}", fs.ls, root, detail=True)
                listing = {entry["name"]: entry for entry in listing}
            infos = {path: info for path, info in sorted(listing.items()) if path.endswith(".tar")}
            for path, info in infos.items():  # an HTML index page gives neither size nor ETag: ask each
                if info.get("size") is None and etag_of(info) is None:
                    infos[path] = self.store.call(f"shard {self.store.url_of(path)}", fs.info, path)
            folder = root
        if not infos:
            raise SourceError(f"{self.url}: no .tar shards under this URL")
        self._paths = list(infos)
        self.shards = [self.store.url_of(path) for path in self._paths]
        indexes = [load_remote_index(self.store, path, info)["samples"] for path, info in infos.items()]
        names = None
        if classes is None:
            names_path = posixpath.join(folder, "classes.txt")
            try:
                names = (fs.cat_file(names_path).decode("utf-8"), self.store.url_of(names_path))
            except Exception:  # noqa: BLE001, S110 - no classes.txt: class names are the indices
                pass
        self._assemble(indexes, classes, names, unlabeled)
        stamps = [f"{path}:{info.get('size')}:{etag_of(info)}" for path, info in infos.items()]
        self.fingerprint = "wds-remote:" + hashlib.sha1("\n".join(stamps).encode(), usedforsecurity=False).hexdigest()

    def _requests(self, indices):
        paths = [self._paths[self._shard[i]] for i in indices]
        starts = [int(self._offset[i]) for i in indices]
        return paths, starts, [start + int(self._size[i]) for start, i in zip(starts, indices)]


    def __repr__(self) -> str:
        return f"RemoteWebDatasetSource({self.url!r}, shards={len(self.shards)}, samples={len(self)})"


def resolve_url_source(url: str, storage_options: dict | None = None, **options):
    """The source at `url`, recognised by what it holds (sources.base.detect_layout): a saved HF
    dataset, parquet files (a `.parquet` URL or a glob too), `.tar` shards, or an ImageFolder tree."""
    store = Store(url, storage_options)
    fs, root = store.fs, store.root
    if root.endswith(".tar"):
        return RemoteWebDatasetSource(url, storage_options, **options)
    if root.endswith(".parquet") or is_glob(root):
        return ParquetSource(url, storage_options=storage_options, **options)
    entries = store.call(f"listing {store.url}", fs.ls, root, detail=True)
    if not entries:
        raise SourceError(f"{store.url}: nothing under this URL (a missing bucket or prefix?)")
    layout = detect_layout(root, (posixpath.basename(entry["name"].rstrip("/")) for entry in entries))
    if layout == "hf":
        from datasets import load_from_disk

        from .hf import HFDatasetSource

        dataset = store.call(f"loading the dataset at {store.url}", load_from_disk, url,
                             storage_options=storage_options)
        return HFDatasetSource(dataset, **options)
    if layout == "parquet":
        return ParquetSource(url, storage_options=storage_options, **options)
    if layout == "webdataset":
        return RemoteWebDatasetSource(url, storage_options, listing={e["name"]: e for e in entries}, **options)
    refuse_folder_options(options)
    return RemoteImageFolderSource(url, storage_options)
