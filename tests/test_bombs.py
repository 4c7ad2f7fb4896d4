"""Decompression bombs: an encoded image whose header claims more than `max_pixels` is refused before
either backend decodes it (train and eval; raise names the file and its size, skip leaves it out),
and no process's memory follows the header's claim."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dali_pipes import EvalTransform, ImageDecodeError, Preprocess, TrainTransform, make_loader
from dali_pipes.synthetic import jpeg_bomb, png_bomb

from .conftest import write_image

SMALL = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(size=32, resize_size=36))


@pytest.fixture(scope="module")
def bomb_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bombs")
    for name in ("a", "b"):
        (root / name).mkdir()
        for k in range(3):
            write_image(root / name / f"ok{k}.jpg", (10 * k, 100, 200), (40, 50))
    (root / "a" / "bomb.jpg").write_bytes(jpeg_bomb())
    (root / "b" / "bomb.png").write_bytes(png_bomb())
    return root


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_a_bomb_raises_naming_the_file_and_its_size(bomb_folder, backend, train):
    for bomb, size in (("a/bomb.jpg", "60000 x 60000"), ("b/bomb.png", "30000 x 30000")):
        others = sorted(p for p in bomb_folder.rglob("bomb.*") if not str(p).endswith(bomb))
        for other in others:
            other.rename(other.with_suffix(other.suffix + ".off"))  # one bomb at a time
        try:
            loader = make_loader(bomb_folder, train=train, batch_size=4, backend=backend, preset=SMALL, seed=0,
                                 num_threads=1)
            with loader, pytest.raises(ImageDecodeError, match=rf"{bomb}.*{size}.*max_pixels=178,956,970"):
                for _ in loader:
                    pass
        finally:
            for other in others:
                other.with_suffix(other.suffix + ".off").rename(other)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_skip_leaves_bombs_out_and_keeps_every_other_image(bomb_folder, backend, train):
    with make_loader(bomb_folder, train=train, batch_size=4, backend=backend, preset=SMALL, seed=0, num_threads=1,
                     on_error="skip") as loader, pytest.warns(UserWarning, match="max_pixels"):
        delivered = sum(len(labels) for _, labels in loader)
    assert delivered == 6
    assert sorted(Path(p).name for p in loader.skipped) == ["bomb.jpg", "bomb.png"]
    assert all("max_pixels" in why for why in loader.skipped.values())


def test_the_limit_is_the_header_pixel_count_and_none_turns_it_off(tmp_path, backend):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_image(tmp_path / name / "x.png", (1, 2, 3), (40, 50))
    for max_pixels, refused in ((2000, False), (1999, True), (None, False)):
        with make_loader(tmp_path, train=True, batch_size=2, backend=backend, preset=SMALL, seed=0, num_threads=1,
                         max_pixels=max_pixels) as loader:
            if refused:
                with pytest.raises(ImageDecodeError, match=r"50 x 40 = 2,000 pixels, over max_pixels=1,999"):
                    next(iter(loader))
            else:
                assert len(next(iter(loader))[1]) == 2


@pytest.mark.parametrize("value", [0, -5, 2.5, "many", True])
def test_max_pixels_is_checked_at_the_edge(bomb_folder, value):
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        make_loader(bomb_folder, train=True, batch_size=2, max_pixels=value)


MEMORY = textwrap.dedent("""
    import resource, sys, warnings
    from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
    cfg = Preprocess(train=TrainTransform(size=32), eval=EvalTransform(size=32, resize_size=36))
    warnings.simplefilter("ignore")
    for backend in ("dali-cpu", "torchvision"):
        for train in (True, False):
            with make_loader(sys.argv[1], train=train, batch_size=4, backend=backend, preset=cfg, seed=0,
                             num_threads=1, on_error="skip") as loader:
                assert sum(len(labels) for _, labels in loader) == 6
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print("peak MiB", peak // 1024)
""")


def test_no_process_memory_follows_the_headers_claim(bomb_folder):
    """Decoding either bomb would take 2.7-10.8 GB; the process and its workers stay far below."""
    result = subprocess.run([sys.executable, "-c", MEMORY, str(bomb_folder)], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split("peak MiB")[1])
    assert peak < 2048, f"peak RSS {peak} MiB"
