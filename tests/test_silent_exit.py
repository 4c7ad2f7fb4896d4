"""A script that breaks out of a loop and exits without close() exits silently: no "Exception
ignored" or traceback at interpreter shutdown, on both backends and every kind of source."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from . import factories
from .conftest import CPU_BACKENDS, make_identity_folder

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    from dali_pipes import CocoSource, EvalTransform, Preprocess, TrainTransform, make_loader
    backend, scenarios = sys.argv[1], json.loads(sys.argv[2])
    small = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    left = []  # every loader stays referenced until the interpreter tears the modules down
    for kind, data, style in scenarios:
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
        loader = make_loader(source, train=True, batch_size=2, backend=backend, num_threads=2, seed=0, preset=small)
        if style == "break":
            for images, labels in loader:
                break
            left.append(loader)
        else:  # the iterator stays referenced too
            it = iter(loader)
            batch = next(it)
            if style == "cycle":  # as in a framework's object graph: only the last collection frees them
                loader.pending = it
            left.append((loader, it, batch))
        print("left", kind, style, flush=True)
    print("leaving")
""")


KINDS = ["folder", "webdataset", "hf-path", "hf-object", "arrays", "coco"]
SCENARIOS = [(kind, "break") for kind in KINDS] + [("folder", "cycle"), ("webdataset", "cycle")]


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
def test_exit_is_silent(sources, backend):
    """One interpreter per backend holds a loader of every kind of source, each broken out of its
    loop, plus two whose iterator sits in a reference cycle; it exits without a word."""
    repo = str(Path(__file__).resolve().parents[1])
    scenarios = [(kind, str(sources[kind]), style) for kind, style in SCENARIOS]
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=repo), backend, json.dumps(scenarios)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert [line.split()[1:] for line in result.stdout.splitlines()[:-1]] == [list(s) for s in SCENARIOS]
    assert result.stdout.splitlines()[-1] == "leaving"
    noise = [line for line in result.stderr.splitlines() if "Exception ignored" in line or "Traceback" in line
             or "Error" in line]
    assert not noise, result.stderr[-3000:]


TEARDOWN = textwrap.dedent("""
    import gc, sys
    sys.path.insert(0, {repo!r})
    from dali_pipes import EvalTransform, Preprocess, TrainTransform, make_loader
    backend, datas = sys.argv[1], sys.argv[2:]
    small = Preprocess(train=TrainTransform(size=16), eval=EvalTransform(16, 16))
    for data in datas:
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
def test_finalizers_survive_module_teardown(sources, backend):
    """Python may free a loader, its iterator or a source after their modules' globals are gone
    (whatever order a given interpreter version tears modules down in): nothing they run then may
    need those globals. One interpreter per backend, a folder's loader and a shards' loader."""
    repo = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", TEARDOWN.format(repo=repo), backend,
                             str(sources["folder"]), str(sources["webdataset"])],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0 and "leaving" in result.stdout, result.stderr[-3000:]
    assert "Exception ignored" not in result.stderr, result.stderr[-3000:]
