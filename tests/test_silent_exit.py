"""A script that breaks out of a loop and exits without close() exits silently: no "Exception
ignored" or traceback at interpreter shutdown, on both backends and every kind of source."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from . import factories
from .conftest import CPU_BACKENDS, make_identity_folder

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from dali_pipes import CocoSource, EvalTransform, Preprocess, TrainTransform, make_loader
    kind, data, backend, style = sys.argv[1:5]
    if kind == "arrays":
        import numpy as np
        source = (np.zeros((10, 12, 12, 3), np.uint8), np.arange(10) % 3)
    elif kind == "hf-object":
        from datasets import load_from_disk
        source = load_from_disk(data)
    elif kind == "coco":
        source = CocoSource(data + "/instances.json", data + "/images")
    else:
        source = data
    small = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    loader = make_loader(source, train=True, batch_size=2, backend=backend, num_threads=2, seed=0, preset=small)
    if style == "break":
        for images, labels in loader:
            break
    else:  # the iterator stays referenced until the interpreter tears the modules down
        it = iter(loader)
        batch = next(it)
        if style == "cycle":  # as in a framework's object graph: only the last collection frees them
            loader.pending = it
    print("leaving")
""")


KINDS = ["folder", "webdataset", "hf-path", "hf-object", "arrays", "coco"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("exit")
    make_identity_folder(root / "folder", {"a": 5, "b": 4})
    from dali_pipes.convert import convert_to_shards
    from dali_pipes.sources import resolve_source

    convert_to_shards(resolve_source(root / "folder"), root / "shards", shard_size=4)
    factories.cifar10(9).save_to_disk(str(root / "hf"))
    factories.coco_folder(root / "coco", n=6)
    return {"folder": root / "folder", "webdataset": root / "shards", "hf-path": root / "hf",
            "hf-object": root / "hf", "arrays": root, "coco": root / "coco"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind, style", [(kind, "break") for kind in KINDS]
                         + [("folder", "cycle"), ("webdataset", "cycle")])
def test_exit_is_silent(sources, backend, kind, style):
    repo = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=repo), kind, str(sources[kind]), backend, style],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "leaving" in result.stdout
    noise = [line for line in result.stderr.splitlines() if "Exception ignored" in line or "Traceback" in line
             or "Error" in line]
    assert not noise, result.stderr[-3000:]


TEARDOWN = textwrap.dedent("""
    import gc, sys
    sys.path.insert(0, {repo!r})
    from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
    data, backend = sys.argv[1:3]
    small = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    loader = make_loader(data, train=True, batch_size=2, backend=backend, num_threads=2, seed=0, preset=small)
    it = iter(loader)
    next(it)
    loader.pending = it  # a cycle: only a collection frees them
    del it, loader
    # what interpreter shutdown does to a module before the objects it defined are freed
    for name, module in list(sys.modules.items()):
        if name.startswith("dali_pipes"):
            for key in list(vars(module)):
                if not key.startswith("__"):
                    vars(module)[key] = None
    gc.collect()
    print("leaving")
""")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", ["folder", "webdataset"])
def test_finalizers_survive_module_teardown(sources, backend, kind):
    """Python may free a loader, its iterator or a source after their modules' globals are gone
    (whatever order a given interpreter version tears modules down in): nothing they run then may
    need those globals."""
    repo = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", TEARDOWN.format(repo=repo), str(sources[kind]), backend],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "leaving" in result.stdout, result.stderr[-3000:]
    assert "Exception ignored" not in result.stderr, result.stderr[-3000:]
