"""Turns what the user passed to `make_loader` into a `Source`.

A path or a URL (s3://, gs://, https://, any fsspec protocol: dali_pipes.sources.remote) is
recognised by what it holds: a `save_to_disk` Hugging Face dataset, parquet files in the Hub's
layout (also a glob or a list of them), WebDataset `.tar` shards, or an ImageFolder tree. Objects:
a `datasets.Dataset`, a `datasets.IterableDataset` streaming parquet files, a torchvision dataset (ImageFolder, CIFAR, a
Subset; without a transform: `dali_pipes.DataLoader` translates one), an `(images, labels)` pair of
arrays, or any ready Source (`CocoSource`, `WebDatasetSource`, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SourceError
from .arrays import ArraySource
from .base import Source, check_encoded, detect_layout, refuse_folder_options, sniff_format
from .folder import ImageFolderSource
from .hf import HFDatasetSource
from .parquet import ParquetSource, is_glob, iterable_source
from .timm_reader import is_timm_dataset, timm_source
from .torchvision import base_dataset, is_torchvision_dataset, torchvision_source

__all__ = ["Source", "ImageFolderSource", "HFDatasetSource", "ParquetSource", "ArraySource", "resolve_source",
           "check_encoded", "sniff_format"]


def _is_hf(obj, name: str) -> bool:
    return type(obj).__module__.startswith("datasets") and type(obj).__name__ == name


def resolve_source(source, storage_options: dict | None = None, **options) -> Source:
    """The Source for `source`; `options` go to the source's constructor (e.g. label_column=);
    `storage_options` (fsspec's) to a URL's filesystem."""
    from ..storage import is_url

    if is_url(source):
        from .remote import resolve_url_source

        return resolve_url_source(source, storage_options, **options)
    if storage_options is not None:
        raise SourceError("storage_options apply to URLs (s3://, gs://, https://, ...), not to "
                          f"{type(source).__name__} sources")
    if isinstance(source, str) and source.startswith("file://"):
        source = source.removeprefix("file://")
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and source.endswith(".parquet") or is_glob(str(source)):
            return ParquetSource(str(source), **options)
        return _source_at_path(Path(source).expanduser(), options)
    if isinstance(source, (tuple, list)) and source and all(str(p).endswith(".parquet") for p in source):
        return ParquetSource(list(source), **options)
    if _is_hf(source, "Dataset"):
        return HFDatasetSource(source, **options)
    if _is_hf(source, "IterableDataset"):
        return iterable_source(source, **options)
    if _is_hf(source, "DatasetDict") or _is_hf(source, "IterableDatasetDict"):
        raise SourceError(f"got a DatasetDict with splits {sorted(source)}; pass one split, e.g. ds['train']")
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return ArraySource(*source, **options)
    if is_timm_dataset(source):
        if options:
            raise SourceError(f"source options {sorted(options)} do not apply to a timm dataset (its reader has them)")
        return timm_source(source)
    if is_torchvision_dataset(source):
        if options:
            raise SourceError(f"source options {sorted(options)} do not apply to a torchvision dataset")
        transform = getattr(base_dataset(source), "transform", None)
        if transform is not None:
            raise SourceError(f"{type(source).__name__} has a transform ({type(transform).__name__}), which "
                              "make_loader would not run: use dali_pipes.DataLoader(dataset, ...), which translates "
                              "it, or pass preset=dali_pipes.from_torchvision(transform).preprocess")
        return torchvision_source(source, resolve_source)
    if all(hasattr(source, attr) for attr in ("read", "describe", "classes", "targets", "encoded", "__len__")):
        if options:
            raise SourceError(f"source options {sorted(options)} apply only to paths, datasets and arrays")
        return source
    raise SourceError(
        f"unsupported source {type(source).__name__}: pass an ImageFolder path, a saved HF dataset path, "
        "a folder of WebDataset .tar shards, a datasets.Dataset, a torchvision ImageFolder / CIFAR dataset "
        "(or a Subset), a timm ImageDataset, an (images, labels) pair of arrays, or a dali_pipes Source"
    )


def _source_at_path(path: Path, options) -> Source:
    names = [p.name for p in path.iterdir()] if path.is_dir() else []
    layout = detect_layout(str(path) if path.is_file() else "", names)
    if layout == "folder" and (path / "data").is_dir() and any((path / "data").rglob("*.parquet")):
        layout = "parquet"  # a Hub dataset repository: its parquet files under data/
    if layout == "hf":
        from datasets import load_from_disk

        return HFDatasetSource(load_from_disk(str(path)), **options)
    if layout == "parquet":
        return ParquetSource(str(path), **options)
    if layout == "webdataset":
        from .webdataset import WebDatasetSource

        return WebDatasetSource(path, **options)
    refuse_folder_options(options)
    return ImageFolderSource(path)
