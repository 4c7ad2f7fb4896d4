"""`dali-pipes stats`: exact per-channel statistics, cached next to the data, reused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dali_pipes import ArraySource, ImageFolderSource, cached_stats, compute_stats, make_loader
from dali_pipes import stats as stats_module
from dali_pipes.cli import main

from .conftest import write_image


def test_array_statistics_are_exact():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 17, 11, 3), dtype=np.uint8)
    stats = compute_stats(ArraySource(images, np.zeros(30, int)), num_workers=0)
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    assert stats.images == 30 and stats.pixels == 30 * 17 * 11
    assert np.allclose(stats.mean, pixels.mean(axis=0), rtol=0, atol=1e-12)
    assert np.allclose(stats.std, pixels.std(axis=0), rtol=0, atol=1e-12)


def test_images_of_different_sizes_weigh_by_pixels(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "big.png", (100, 0, 0), (30, 10))   # 300 pixels
    write_image(tmp_path / "a" / "small.png", (200, 0, 0), (10, 10))  # 100 pixels
    stats = compute_stats(ImageFolderSource(tmp_path), num_workers=0)
    assert stats.mean[0] == pytest.approx((100 * 300 + 200 * 100) / 400 / 255, abs=1e-12)
    assert stats.std[0] == pytest.approx(np.sqrt(0.75 * 0.25) * 100 / 255, abs=1e-12)


def test_results_are_cached_next_to_the_data_and_invalidated_by_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    write_image(root / "a" / "x.png", (10, 20, 30), (8, 8))
    calls = []
    real = stats_module.compute_stats
    monkeypatch.setattr(stats_module, "compute_stats", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = cached_stats(ImageFolderSource(root), num_workers=0)
    assert (root / ".dali-pipes-stats.json").exists()
    assert cached_stats(ImageFolderSource(root), num_workers=0) == first and len(calls) == 1
    write_image(root / "a" / "y.png", (250, 250, 250), (8, 8))
    second = cached_stats(ImageFolderSource(root), num_workers=0)
    assert len(calls) == 2 and second.mean != first.mean
    # a read-only data folder falls back to the user cache
    monkeypatch.setattr(stats_module, "STATS_FILE", "a/x.png/stats.json")  # its parent is a file
    cached_stats(ImageFolderSource(root), refresh=True, num_workers=0)
    assert list((tmp_path / "cache" / "stats").glob("*.json"))


def test_the_stats_command(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    write_image(root / "a" / "x.png", (51, 102, 153), (5, 7))
    assert main(["stats", str(root), "--json", "--quiet", "--workers", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mean"] == pytest.approx([0.2, 0.4, 0.6]) and out["std"] == pytest.approx([0, 0, 0], abs=1e-9)
    assert out["images"] == 1 and out["pixels"] == 35


def test_per_dataset_normalization_of_a_folder(tmp_path, monkeypatch):
    from dali_pipes import Normalize, Preprocess

    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path / "cache"))
    (tmp_path / "d" / "a").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(6):
        write_image(tmp_path / "d" / "a" / f"{k}.png", tuple(int(v) for v in rng.integers(0, 256, 3)), (256, 256))
    cfg = Preprocess(normalize=Normalize.per_dataset())
    with make_loader(tmp_path / "d", train=False, batch_size=6, preset=cfg, num_threads=2) as loader:
        images, _ = next(iter(loader))
    per_channel = images.double().transpose(0, 1).reshape(3, -1)
    assert per_channel.mean(dim=1).abs().max() < 1e-4
    assert (per_channel.std(dim=1, unbiased=False) - 1).abs().max() < 1e-4
