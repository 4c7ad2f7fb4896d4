"""Write WebDataset shards (`KEY.jpg|png` + `KEY.cls`), or parquet shards in the Hugging Face Hub's
layout, from any encoded, single-label source.

Member names are made here from the sample number, never taken from the data, and every file is
created inside the destination folder, which must be new or empty.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from .errors import SourceError
from .sources import check_encoded
from .sources.webdataset import build_index, load_index
from .storage import Store, is_url

_EXTENSION = {"jpeg": "jpg", "pnm": "ppm", "tiff": "tif"}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def convert_to_shards(source, dst: str | os.PathLike, *, shard_size: int = 1000, progress=None,
                      storage_options: dict | None = None) -> list:
    """Write `dst/shard-000000.tar`, ... and `dst/classes.txt`; index each shard; return the shards.
    `dst` may be a URL (s3://, gs://, ...; `storage_options` are fsspec's): each shard is written
    locally, uploaded, and its index stored beside it (so readers never scan it)."""
    if is_url(str(dst)):
        return _convert_to_url(source, str(dst), shard_size, progress, storage_options)
    _check_convertible(source, shard_size)
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise SourceError(f"destination {dst} is not empty; choose a new folder")
    dst.mkdir(parents=True, exist_ok=True)
    shards: list[Path] = []
    for start in range(0, len(source), shard_size):
        final = dst / f"shard-{len(shards):06d}.tar"
        partial = final.with_name(final.name + ".partial")
        with tarfile.open(partial, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for index in range(start, min(start + shard_size, len(source))):
                data = source.read(index)
                fmt = check_encoded(data, source.describe(index))
                key = f"{index:08d}"
                _add(tar, f"{key}.{_EXTENSION.get(fmt, fmt)}", data)
                _add(tar, f"{key}.cls", str(int(source.targets[index])).encode())
                if progress is not None:
                    progress(1)
        partial.replace(final)
        load_index(final)
        shards.append(final)
    (dst / "classes.txt").write_text("\n".join(source.classes) + "\n")
    return shards


def convert_to_parquet(source, dst: str | os.PathLike, *, shard_size: int = 1000, split: str = "train",
                       progress=None) -> list[Path]:
    """Write `dst/data/{split}-00000-of-0000N.parquet`, ... as the Hub stores image datasets
    (`imagenet-1k`, `cifar10`): an `image` column of {bytes, path} structs (the encoded file as it
    is) and a `label` ClassLabel with the source's class names, in each file's Hugging Face metadata
    (`datasets` writes both), `shard_size` rows a file. `dst` must be a new or empty local folder."""
    from datasets import ClassLabel, Dataset, Features, Image

    _check_convertible(source, shard_size)
    if is_url(str(dst)):
        raise SourceError("convert --format parquet writes to a local folder; upload the folder afterwards")
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise SourceError(f"destination {dst} is not empty; choose a new folder")
    (dst / "data").mkdir(parents=True, exist_ok=True)
    features = Features({"image": Image(), "label": ClassLabel(names=list(source.classes))})
    count = -(-len(source) // shard_size)
    files = []
    for k, start in enumerate(range(0, len(source), shard_size)):
        rows: dict[str, list] = {"image": [], "label": []}
        for index in range(start, min(start + shard_size, len(source))):
            data = source.read(index)
            fmt = check_encoded(data, source.describe(index))
            name = os.path.basename(source.describe(index)) or f"{index:08d}.{_EXTENSION.get(fmt, fmt)}"
            rows["image"].append({"bytes": data, "path": name})
            rows["label"].append(int(source.targets[index]))
            if progress is not None:
                progress(1)
        final = dst / "data" / f"{split}-{k:05d}-of-{count:05d}.parquet"
        partial = final.with_name(final.name + ".partial")
        Dataset.from_dict(rows, features=features).to_parquet(str(partial))
        partial.replace(final)
        files.append(final)
    return files


def _check_convertible(source, shard_size: int) -> None:
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if not source.encoded:
        raise SourceError("convert needs a source of encoded images (a folder, HF dataset or shards)")
    if source.targets.ndim != 1:
        raise SourceError("convert writes single-label data; this source is multi-label")


def _convert_to_url(source, dst: str, shard_size: int, progress, storage_options) -> list[str]:
    import json
    import tempfile

    from .sources.remote import INDEX_SUFFIX, object_stamp

    store = Store(dst, storage_options)
    fs, root = store.fs, store.root
    if store.call(f"checking {store.url}", fs.exists, root) and store.call(f"listing {store.url}", fs.ls, root):
        raise SourceError(f"destination {store.url} is not empty; choose a new prefix")
    urls = []
    with tempfile.TemporaryDirectory(prefix="dali-pipes-convert-") as tmp:
        for shard in convert_to_shards(source, Path(tmp) / "shards", shard_size=shard_size, progress=progress):
            path = f"{root}/{shard.name}"
            store.call(f"writing {store.url_of(path)}", fs.put_file, str(shard), path)
            info = store.call(f"checking {store.url_of(path)}", fs.info, path)
            with open(shard, "rb") as f:
                index = {**build_index(store.url_of(path), fileobj=f), "stamp": object_stamp(info)}
            store.call(f"writing {store.url_of(path)}{INDEX_SUFFIX}", store.write_bytes, path + INDEX_SUFFIX,
                       json.dumps(index).encode())
            urls.append(store.url_of(path))
        store.call(f"writing {store.url}/classes.txt", store.write_bytes, f"{root}/classes.txt",
                   ("\n".join(source.classes) + "\n").encode())
    return urls
