"""The `dali-pipes` command line: demo on the synthetic set, info, and one-line errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dali_pipes.cli import main
from dali_pipes.synthetic import make_synthetic_imagefolder


@pytest.mark.parametrize("backend", ["dali-cpu", "torchvision"])
def test_demo_streams_the_synthetic_set_and_reports_images_per_second(tmp_path, monkeypatch, capsys, backend):
    monkeypatch.setenv("DALI_PIPES_CACHE", str(tmp_path))
    code = main(["demo", "--images", "12", "--batch-size", "5", "--epochs", "2", "--threads", "2",
                 "--backend", backend, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"backend={backend}" in out and "samples=12" in out and "batches/epoch=3" in out
    assert re.search(rf"backend {backend}: \d+ images/s", out)
    assert out.count("12 images in") == 2


def test_synthetic_set_is_photo_sized_jpeg_cached_and_deterministic(tmp_path):
    from PIL import Image

    root = make_synthetic_imagefolder(tmp_path / "a", num_images=6, num_classes=3, seed=1)
    files = sorted(root.rglob("*.jpg"))
    assert len(files) == 6 and len({f.parent.name for f in files}) == 3
    for f in files:
        with Image.open(f) as im:
            assert im.format == "JPEG" and 400 <= max(im.size) <= 500
    again = make_synthetic_imagefolder(tmp_path / "b", num_images=6, num_classes=3, seed=1)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted(again.rglob("*.jpg"))]
    before = files[0].stat().st_mtime_ns
    make_synthetic_imagefolder(tmp_path / "a", num_images=6, num_classes=3, seed=1)
    assert files[0].stat().st_mtime_ns == before  # reused, not rewritten


def test_info_names_versions_and_the_auto_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("dali-pipes", "nvidia-dali", "torch", "torchvision", "datasets", "GPU visible", "backend 'auto'",
                "resampler 'auto'"):
        assert key in out


def test_bad_data_is_one_line_and_a_non_zero_exit(tmp_path, capsys):
    assert main(["demo", "--data", str(tmp_path / "missing"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing" in err and "Traceback" not in err


def test_the_console_script_runs_and_debug_shows_the_traceback(tmp_path):
    exe = shutil.which("dali-pipes")
    assert exe is not None
    result = subprocess.run([exe, "--debug", "demo", "--data", str(tmp_path / "missing")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" in result.stderr and "missing" in result.stderr


def test_preview_writes_one_row_per_backend(tmp_path, identity_folder, capsys):
    from PIL import Image

    root, _ = identity_folder
    out = tmp_path / "grid.png"
    assert main(["preview", str(root), "--out", str(out), "--count", "5", "--size", "48",
                 "--backends", "dali-cpu", "torchvision", "--color-jitter", "0.4", "0.4", "0.4", "0.1",
                 "--auto-augment", "trivialaugment", "--grayscale", "0.5", "--blur", "0.5", "--blur-kernel", "5",
                 "--erasing", "0.5", "--quiet"]) == 0
    assert "5 images x 2 backends (dali-cpu, torchvision)" in capsys.readouterr().out
    with Image.open(out) as grid:
        assert grid.size == (110 + 5 * (48 + 4), 2 * (48 + 4) + 4)
        pixels = np.asarray(grid.convert("RGB"))
    tile = pixels[4:52, 110:158]
    assert tile.std() > 0  # an image, not an empty canvas


def test_graph_prints_what_runs_where(capsys):
    import json

    from dali_pipes.cli import main

    assert main(["graph", "--color-jitter", "0.4", "0.4", "0.4", "0.1"]) == 0
    table = capsys.readouterr().out
    assert "train pipeline" in table and "decoders.Image" in table and "Hue" in table
    assert main(["graph", "--eval", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    devices = {row["op"]: row["device"] for row in rows}
    assert devices["decoders.Image"] == "mixed" and devices["Resize"] == devices["CropMirrorNormalize"] == "gpu"
    assert [row["op"] for row in rows].index("decoders.Image") < [row["op"] for row in rows].index("Resize")
    assert main(["graph", "--device", "cpu", "--resampler", "torch", "--json", "--auto-augment", "randaugment"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["device"] for row in rows} == {"cpu"} and "PythonFunction" in {row["op"] for row in rows}
    assert main(["graph", "--resampler", "torch"]) == 1
    assert "runs in DALI's CPU graph only" in capsys.readouterr().err


def test_graph_shows_grayscale_and_blur(capsys):
    assert main(["graph", "--device", "gpu", "--grayscale", "0.2", "--blur", "0.5", "--json"]) == 0
    import json

    ops = {row["op"]: row["device"] for row in json.loads(capsys.readouterr().out)}
    assert ops["GaussianBlur"] == "gpu"


def test_the_command_and_the_package_work_without_their_optional_dependencies(tmp_path):
    """timm is optional (the image's install has none): importing the CLI, the recipes and the op
    registry must not need it; a TimmAugment only needs it when a transform uses it. psutil is the
    bench extra's: without it, `bench` says what to install instead of a traceback."""
    code = ("import sys; sys.modules['timm'] = None; sys.modules['psutil'] = None\n"
            "import dali_pipes.cli, dali_pipes.bench.recipes\n"
            "from dali_pipes import TimmAugment, TrainTransform\n"
            "TimmAugment('rand-m9')\n"
            "try:\n"
            "    TrainTransform(timm_augment=TimmAugment('rand-m9'))\n"
            "except ImportError as err:\n"
            "    print('needs timm:', err, flush=True)\n"
            "sys.exit(dali_pipes.cli.main(['bench', '--images', '8', '--out', sys.argv[1]]))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert "needs timm: TimmAugment needs timm" in result.stdout, result.stderr[-2000:]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "pip install 'dali-pipes[bench]'" in result.stderr


def test_graph_and_preview_show_a_torchvision_transform(tmp_path, identity_folder, capsys, monkeypatch):
    """`--transform MODULE:NAME`: the user's own transform, translated (and the translation printed)."""
    import json

    (tmp_path / "my_transforms.py").write_text(
        "from torchvision import transforms as T\n"
        "train = T.Compose([T.RandomResizedCrop(48), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0.1),\n"
        "                   T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])\n"
        "val = T.Compose([T.Resize(56), T.CenterCrop(48), T.ToTensor()])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["graph", "--transform", "my_transforms:train", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "Hue" in {row["op"] for row in json.loads(out)} and "ColorJitter(brightness=0.4" in err
    assert main(["graph", "--transform", "my_transforms:val"]) == 0
    assert "the eval pipeline of my_transforms:val" in capsys.readouterr().out  # the transform's own mode
    root, _ = identity_folder
    assert main(["preview", str(root), "--transform", "my_transforms:train", "--out", str(tmp_path / "g.png"),
                 "--count", "3", "--backends", "torchvision", "--quiet"]) == 0
    assert (tmp_path / "g.png").exists()
