"""The benchmark runs end to end with tiny settings and writes well-formed outputs (no timing asserts)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from dali_pipes.cli import main


def test_bench_writes_table_json_and_chart(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["bench", "--images", "12", "--long-side", "64", "--batch-size", "4", "--repeats", "1",
                 "--threads", "2", "--contenders", "dali-cpu", "torchvision", "classic-torchvision", "decode-only",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| train | dali-cpu |" in printed and "| eval | decode-only |" in printed and "1.00x" in printed
    report = json.loads((out / "throughput.json").read_text())
    assert report["meta"]["machine"]["cpu_cores"] >= 1
    (ceiling,) = report["meta"]["physical_ceiling"].values()  # one core's decode rate x the cores
    assert ceiling["per_core"] > 0 and ceiling["images_per_s"] == ceiling["per_core"] * ceiling["cores"]
    assert "physical ceiling" in printed and "| vs physical ceiling |" in printed
    rows = report["results"]
    assert {(r["contender"], r["mode"]) for r in rows} == {
        (c, m) for c in ("dali-cpu", "torchvision", "classic-torchvision", "decode-only") for m in ("train", "eval")}
    for r in rows:
        assert r["images_per_s"] > 0 and len(r["epoch_rates"]) == 1
        # a smoke run is far shorter than the CPU-time resolution allows to measure
        assert r["cpu_util"] is None
        assert r["peak_rss_mb"] > 0
    with Image.open(out / "throughput.png") as chart:
        assert chart.size[0] == 900 and chart.size[1] >= 8 * 26


def test_bench_soak_reports_memory_per_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path / "cache"))
    assert main(["bench", "--images", "8", "--long-side", "64", "--batch-size", "4", "--soak", "3",
                 "--contenders", "dali-cpu", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "soak.json").read_text())
    assert report["epochs"] == 3 and len(report["rss_mb"]) == 3 and len(report["peak_rss_mb"]) == 3
    assert all(p >= r * 0.5 for p, r in zip(report["peak_rss_mb"], report["rss_mb"]))
    assert "rss_growth_after_epoch_2" in report and "peak_rss_growth_after_epoch_2" in report


def test_cpu_utilisation_is_measured_over_a_long_enough_window(tmp_path, monkeypatch):
    from dali_pipes.bench import runner as bench
    from dali_pipes.synthetic import make_synthetic_imagefolder

    monkeypatch.setattr(bench, "MIN_CPU_WINDOW_S", 0.2)
    root = make_synthetic_imagefolder(tmp_path / "d", num_images=128, long_side=256)
    result = bench.measure("dali-cpu", root, train=True, batch_size=16, threads=2, repeats=6)
    assert result.cpu_util is not None, "768 images decoded in under 0.2 s: raise the workload"
    assert 0 < result.cpu_util <= 1.1  # all cores at most, plus the CPU-time tick resolution


def test_contender_names_vary_the_resampler_and_exact_edges():
    from dali_pipes.bench.runner import loader_choice

    assert loader_choice("dali-cpu") == {"backend": "dali-cpu", "resampler": "auto"}
    assert loader_choice("dali-cpu:dali") == {"backend": "dali-cpu", "resampler": "dali"}
    choice = loader_choice("dali-gpu+exact-edges")
    assert choice["backend"] == "dali-gpu" and choice["preset"].train.exact_edges is True
    with pytest.raises(ValueError, match="the only option after '\\+' is 'exact-edges'"):
        loader_choice("dali-cpu+fast")


def test_timm_contender_runs_timms_own_loader(tmp_path):
    """timm's create_loader on the same files, both modes; listed when timm is installed."""
    pytest.importorskip("timm", reason="the 'test' extra installs timm")
    from dali_pipes.bench import runner as bench
    from dali_pipes.synthetic import make_synthetic_imagefolder

    assert "timm" in bench.contenders()
    root = make_synthetic_imagefolder(tmp_path / "d", num_images=24, long_side=200)
    for train in (True, False):
        result = bench.measure("timm", root, train=train, batch_size=8, threads=2, repeats=1)
        assert result.contender == "timm" and result.images_per_s > 0


def test_ffcv_contender_reads_its_own_conversion_of_the_files(tmp_path):
    """FFCV's Loader on its .beton of the folder: every sample once per epoch with its label,
    ImageNet-normalized 224 px batches; eval in order; recipes beyond crop-flip refused."""
    from dali_pipes.bench import ffcv as ffcv_contender
    from dali_pipes.bench import runner as bench

    if not ffcv_contender.available():
        pytest.skip("ffcv is not installed (the 'ffcv' extra: its source package needs Debian's libopencv-dev "
                    "and libturbojpeg0-dev)")
    from dali_pipes.bench.recipes import RECIPES
    from dali_pipes.sources import resolve_source
    from dali_pipes.synthetic import make_synthetic_imagefolder

    assert bench.FFCV in bench.contenders()
    root = make_synthetic_imagefolder(tmp_path / "d", num_images=20, num_classes=3, long_side=200)
    source = resolve_source(root)
    for train in (True, False):
        loader = ffcv_contender.loader(source, tmp_path / "cache", train=train, batch_size=8, workers=2)
        images, labels = zip(*[(x, y) for x, y in loader])
        labels = torch.cat(labels)
        assert all(x.shape[1:] == (3, 224, 224) and x.dtype == torch.float32 for x in images)
        assert sorted(labels.tolist()) == sorted(source.targets.tolist())  # each sample once
        if not train:
            assert labels.tolist() == source.targets.tolist()
        levels = torch.cat(images) * torch.tensor(ffcv_contender.STD).view(1, 3, 1, 1).float() \
            + torch.tensor(ffcv_contender.MEAN).view(1, 3, 1, 1).float()
        assert levels.min() > -1 and levels.max() < 256  # normalized with the ImageNet statistics
    assert (tmp_path / "cache" / "ffcv.beton").exists()
    options = dict(train=True, batch_size=8, threads=2, repeats=1)
    with pytest.raises(ValueError, match="FFCV cannot express recipe 'randaugment'"):
        bench.measure(bench.FFCV, root, recipe=RECIPES["randaugment"], **options)
    assert bench.measure(bench.FFCV, root, recipe=RECIPES["crop-flip"], **options).images_per_s > 0
