"""Damaged images for the fuzz test: real photographs (scikit-image's samples) encoded as baseline
JPEG, progressive JPEG and PNG, then mutated with a fixed seed - byte flips, header damage,
truncation, and splices of two files. Valid originals are kept next to them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = ("flip", "header", "truncate", "splice")
BASES = ("baseline", "progressive", "png")


def _encodings() -> dict[str, list[bytes]]:
    import skimage.data as data

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    out: dict[str, list[bytes]] = {base: [] for base in BASES}
    for photo in photos:
        image = Image.fromarray(photo).resize((72, 56), Image.BICUBIC)
        for base, fmt, options in (("baseline", "JPEG", {"quality": 90}),
                                   ("progressive", "JPEG", {"quality": 90, "progressive": True}),
                                   ("png", "PNG", {})):
            buffer = io.BytesIO()
            image.save(buffer, fmt, **options)
            out[base].append(buffer.getvalue())
    return out


def mutate(data: bytes, kind: str, rng: np.random.Generator, others: list[bytes]) -> bytes:
    d = bytearray(data)
    if kind == "flip":  # a few bits anywhere past the signature
        for _ in range(int(rng.integers(1, 12))):
            d[int(rng.integers(8, len(d)))] ^= 1 << int(rng.integers(0, 8))
    elif kind == "header":  # bytes replaced where the sizes, tables and chunk lengths live
        for _ in range(int(rng.integers(1, 6))):
            d[int(rng.integers(2, min(200, len(d))))] = int(rng.integers(0, 256))
    elif kind == "truncate":
        d = d[: int(rng.integers(8, len(d)))]
    else:  # splice: the head of this file, the tail of another
        other = others[int(rng.integers(0, len(others)))]
        d = d[: int(rng.integers(8, len(d)))] + other[int(rng.integers(0, len(other))):]
    return bytes(d)


def write_fuzz_folder(root: Path, per_kind: int = 25, seed: int = 2026) -> tuple[list[Path], list[Path]]:
    """ROOT/BASE/KIND_NNN.{jpg,png} (mutated) and ROOT/BASE/valid_N.*; returns (mutated, valid)."""
    rng = np.random.default_rng(seed)
    encodings = _encodings()
    every = [data for datas in encodings.values() for data in datas]
    mutated, valid = [], []
    for base, datas in encodings.items():
        folder = root / base
        folder.mkdir(parents=True, exist_ok=True)
        ext = ".png" if base == "png" else ".jpg"
        for k, data in enumerate(datas):
            path = folder / f"valid_{k}{ext}"
            path.write_bytes(data)
            valid.append(path)
        for kind in KINDS:
            for k in range(per_kind):
                path = folder / f"{kind}_{k:03d}{ext}"
                path.write_bytes(mutate(datas[k % len(datas)], kind, rng, every))
                mutated.append(path)
    return mutated, valid
