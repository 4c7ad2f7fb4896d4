"""Hard inputs and long runs: odd image types decode to RGB identically on both backends; unreadable
images follow on_error; interrupts, soaks and the command line behave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
from dali_pipes.skips import SkippedImageWarning

from .badfiles import BAD_FILES, _truncated_png
from .conftest import CPU_BACKENDS, collect, identity_colour, unnormalize, write_image

SMALL = Preprocess(train=TrainTransform(size=48), eval=EvalTransform(48, 55))


def odd_images(folder):
    """Valid images that trip decoders, each saved under its name; returns name -> expected RGB array."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    smooth = np.asarray(noise.resize((96, 72), Image.BICUBIC))
    expected = {}
    palette = Image.fromarray(smooth).convert("P", palette=Image.ADAPTIVE, colors=64)
    palette.save(folder / "palette.png")
    expected["palette.png"] = np.asarray(palette.convert("RGB"))
    deep = (smooth[..., 0].astype(np.uint16) * 257)
    Image.fromarray(deep).save(folder / "gray16.png")
    expected["gray16.png"] = np.repeat(smooth[..., :1], 3, axis=2)
    Image.fromarray(smooth).convert("L").save(folder / "gray.jpg", quality=95)
    expected["gray.jpg"] = _pil_rgb(folder / "gray.jpg")
    rgba = np.dstack([smooth, np.full(smooth.shape[:2], 90, np.uint8)])
    Image.fromarray(rgba).save(folder / "alpha.png")
    expected["alpha.png"] = smooth  # alpha is dropped, not composited, by both decoders
    Image.new("RGB", (1, 1), (200, 10, 30)).save(folder / "one_pixel.png")
    expected["one_pixel.png"] = np.array([[[200, 10, 30]]], np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": ignored by both decoders
    Image.fromarray(smooth).save(folder / "exif_rotated.jpg", quality=95, exif=exif)
    expected["exif_rotated.jpg"] = _pil_rgb(folder / "exif_rotated.jpg")
    assert expected["exif_rotated.jpg"].shape == smooth.shape  # stored orientation, not displayed
    Image.fromarray(smooth).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    expected["cmyk.jpg"] = np.asarray(Image.fromarray(smooth).convert("CMYK").convert("RGB"))
    return expected


def _pil_rgb(path) -> np.ndarray:
    """PIL's decode, converted to RGB, EXIF orientation not applied (as torchvision's ImageFolder)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_odd_images_decode_to_rgb_like_the_reference(tmp_path, backend):
    (tmp_path / "c").mkdir()
    expected = odd_images(tmp_path / "c")
    names = sorted(expected)
    with make_loader(tmp_path, train=False, batch_size=len(names), backend=backend, preset=SMALL,
                     num_threads=2) as loader:
        images, _ = next(iter(loader))
    assert images.shape == (len(names), 3, 48, 48)
    from torchvision.transforms import v2

    reference = v2.Compose([v2.Resize(55, antialias=True), v2.CenterCrop(48)])
    for i, name in enumerate(names):
        want = reference(torch.from_numpy(expected[name].copy()).permute(2, 0, 1)).double()
        diff = (unnormalize(images[i : i + 1])[0] - want).abs()
        tolerance = 4.0 if name == "cmyk.jpg" else 2.5  # CMYK: PIL's naive conversion vs libjpeg's
        assert diff.max() <= tolerance, f"{name}: {diff.max():.1f} levels from its RGB"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_huge_8000_by_8000_jpeg(tmp_path, backend):
    (tmp_path / "c").mkdir()
    Image.new("RGB", (8000, 8000), (90, 120, 150)).save(tmp_path / "c" / "huge.jpg", quality=90)
    for train in (True, False):
        with make_loader(tmp_path, train=train, batch_size=1, backend=backend, preset=SMALL, num_threads=2) as loader:
            images, _ = next(iter(loader))
        assert images.shape == (1, 3, 48, 48)
        assert (unnormalize(images) - torch.tensor([90.0, 120.0, 150.0]).view(1, 3, 1, 1)).abs().max() <= 3


def folder_with_bad_files(root, n_good=10):
    (root / "good").mkdir(parents=True)
    (root / "more").mkdir()
    for k in range(n_good):
        write_image(root / ("good" if k % 2 else "more") / f"{k:02d}.png", identity_colour(k), (20, 30))
    bad = {}
    for name, data in BAD_FILES.items():
        path = root / "more" / f"zz_{name}"
        path.write_bytes(_truncated_png() if name == "truncated.png" else data)
        bad[str(path)] = name
    return bad


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("train", [True, False])
def test_skip_leaves_out_unreadable_images_names_them_and_counts_them(tmp_path, backend, train):
    bad = folder_with_bad_files(tmp_path)
    loader = make_loader(tmp_path, train=train, batch_size=4, backend=backend, preset=SMALL, seed=1,
                         num_threads=2, on_error="skip")
    assert len(loader) == 4  # 15 files, batches of 4: len stays the plan's
    for epoch in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            identities, _, sizes = collect(loader)
        assert sorted(identities) == list(range(10))  # every readable sample exactly once
        assert sum(sizes) == 10
        messages = [str(w.message) for w in caught if issubclass(w.category, SkippedImageWarning)]
        per_image = [m for m in messages if m.startswith("skipping unreadable image")]
        if epoch == 0:
            assert sorted(m.split(" ")[3].rstrip(":") for m in per_image) == sorted(bad)
        else:
            assert per_image == []  # named once; later epochs only count
        assert any(m.startswith(f"epoch {epoch}: 5 unreadable image(s) left out") for m in messages)
        assert loader.skipped_last_epoch == 5
    assert sorted(loader.skipped) == sorted(bad)
    loader.close()


def test_on_error_is_validated(tmp_path):
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "x.png", (1, 2, 3), (5, 5))
    with pytest.raises(ValueError, match=r"on_error must be one of \('raise', 'skip'\)"):
        make_loader(tmp_path, train=True, batch_size=1, on_error="ignore")


INTERRUPT = textwrap.dedent("""
    import signal
    import sys
    # what an interactive run has: a child of a background job or of nohup inherits SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from dali_pipes import make_loader
    from dali_pipes.synthetic import make_synthetic_imagefolder
    root = make_synthetic_imagefolder(num_images=64, long_side=96)
    loader = make_loader(root, train=True, batch_size=8, backend=sys.argv[1], num_threads=2)
    try:
        while True:
            for _ in loader:
                print("batch", flush=True)
    except KeyboardInterrupt:
        print("interrupted cleanly", flush=True)
""")


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("started_from", ["a terminal", "a background job"])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_ctrl_c_stops_iteration_cleanly(tmp_path, backend, started_from):
    """Whatever SIGINT disposition the suite inherited (a background job ignores it), the child
    handles Ctrl-C as an interactive run does, and the loader stops cleanly."""
    env = {**os.environ, "DALI_PIPES_CACHE": str(tmp_path)}
    inherited = _ignore_sigint if started_from == "a background job" else None
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT, backend], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=inherited)
    try:
        assert proc.stdout.readline().strip() == "batch"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "interrupted cleanly" in out, err[-2000:]
    assert proc.returncode == 0


def _rss_mb(process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_soak_30_epochs_memory_is_flat(tmp_path, backend):
    """Host RSS of the process tree grows less than 5% from epoch 3 to epoch 30."""
    import psutil

    from dali_pipes.synthetic import make_synthetic_imagefolder

    root = make_synthetic_imagefolder(tmp_path / "data", num_images=48, long_side=128)
    me = psutil.Process()
    rss = []
    with make_loader(root, train=True, batch_size=8, backend=backend, num_threads=2, seed=0) as loader:
        for epoch in range(30):
            loader.set_epoch(epoch)
            for _ in loader:
                pass
            rss.append(_rss_mb(me))
    assert max(rss[3:]) <= rss[2] * 1.05, [round(r) for r in rss]


@pytest.mark.filterwarnings("ignore:'dali_pipes.cli' found in sys.modules:RuntimeWarning")  # runpy's, on purpose
def test_cli_help_on_every_subcommand_and_one_line_errors(capsys, monkeypatch):
    """In-process through `main` and `python -m dali_pipes.cli`'s own entry (the console script
    itself runs in tests/test_cli.py::test_the_console_script_runs_and_debug_shows_the_traceback)."""
    import runpy

    from dali_pipes.cli import main

    for command in ("demo", "bench", "preview", "stats", "convert", "info"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0 and "usage:" in capsys.readouterr().out, command
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--batch-size", "many"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and "invalid int value" in err
    with pytest.raises(SystemExit) as exited:
        main(["train"])
    assert exited.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    monkeypatch.setattr(sys, "argv", ["dali-pipes", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("dali_pipes.cli", run_name="__main__")
    out = capsys.readouterr().out
    assert exited.value.code == 0 and "demo" in out and "info" in out


def test_convert_writes_only_inside_its_destination(tmp_path, identity_folder):
    from dali_pipes.cli import main

    root, _ = identity_folder
    before = set(p for p in tmp_path.rglob("*"))
    assert main(["convert", str(root), str(tmp_path / "dst"), "--shard-size", "5", "--quiet"]) == 0
    created = set(tmp_path.rglob("*")) - before
    assert created and all(p == tmp_path / "dst" or (tmp_path / "dst") in p.parents for p in created)


def test_no_code_loads_pickles_or_evaluates_data():
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "dali_pipes"
    for path in package.rglob("*.py"):
        text = path.read_text()
        for forbidden in ("pickle.load", "torch.load(", "eval(", "exec(", "yaml.load(", "shell=True"):
            assert forbidden not in text, f"{path.name} uses {forbidden}"
