"""The recipe of docs/architecture.md, "Adding an augmentation", followed for real on a copy of the package: one new
module in dali_pipes/ops/, its line in the registry, its typed TrainTransform field and its export
give the field's type check, the CLI flag, the DALI graph (CPU run, GPU defined) and the torchvision
kernel, with the other ops' random numbers unmoved (a field left out is named at import:
tests/test_config.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INVERT = textwrap.dedent('''
    """`TrainTransform.invert`: torchvision's RandomInvert(p) (a test op, written by the recipe)."""

    from __future__ import annotations

    from dataclasses import dataclass

    from torchvision.transforms.v2 import functional as F

    from ..checks import probability
    from .base import Feed, SampleOp


    @dataclass(frozen=True)
    class RandomInvert:
        p: float = 0.5

        def __post_init__(self):
            probability(self.p, "RandomInvert.p")


    class Invert(SampleOp):
        field, config = "invert", RandomInvert
        stream, draws = 4, 1  # streams 0-3 are taken (crop, flip, jitter; grayscale; blur; policies)
        feeds = (Feed("invert", "float32", ()),)

        def draw(self, cfg, hw, u):
            return {"invert": u[:, 0] < cfg.invert.p}

        def dali(self, images, nodes, cfg, device):
            from nvidia.dali import fn, types

            from ..kernels.nodes import on_device, to_uint8

            flag, pixels = on_device(nodes["invert"], device), fn.cast(images, dtype=types.FLOAT)
            return to_uint8(pixels + flag * (255.0 - 2.0 * pixels))

        def torch(self, image, values, cfg):
            return F.invert(image) if values["invert"] else image

        def add_arguments(self, parser):
            parser.add_argument("--invert", type=float, default=None, metavar="P")

        def from_arguments(self, args):
            return RandomInvert(args.invert) if args.invert is not None else None
''')

CHECK = textwrap.dedent('''
    import sys
    import torch
    from dali_pipes import ConfigError, Preprocess, RandomInvert, TrainTransform, make_loader
    from dali_pipes.cli import main
    from dali_pipes.synthetic import make_synthetic_imagefolder

    try:
        TrainTransform(invert="yes")
        sys.exit("no ConfigError")
    except ConfigError as err:
        assert "TrainTransform.invert" in str(err), err
    root = make_synthetic_imagefolder(sys.argv[1], num_images=12, long_side=64)
    mean, std = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1), torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    for backend in ("dali-cpu", "torchvision"):
        outs = []
        for invert in (None, RandomInvert(1.0)):
            cfg = Preprocess(train=TrainTransform(size=32, invert=invert))
            with make_loader(root, train=True, batch_size=6, backend=backend, preset=cfg, seed=3,
                             num_threads=1) as loader:
                outs.append(torch.cat([images for images, _ in loader]))
        plain, inverted = ((o.double() * std + mean) * 255 for o in outs)
        err = (plain + inverted - 255).abs().max().item()
        assert err < 0.01, (backend, err)  # the same crops and flips, each pixel inverted
        print(backend, "inverted exactly", flush=True)
    assert main(["graph", "--device", "gpu", "--invert", "1.0", "--json"]) == 0
''')


def test_a_new_augmentation_is_one_module_and_its_registry_line(tmp_path):
    package = tmp_path / "dali_pipes"
    shutil.copytree(ROOT / "dali_pipes", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "ops" / "invert.py").write_text(INVERT)
    registry = package / "ops" / "__init__.py"
    text = registry.read_text()
    text = text.replace("from .grayscale import Grayscale\n",
                        "from .grayscale import Grayscale\nfrom .invert import Invert\n")
    text = text.replace("Grayscale(), Blur())", "Grayscale(), Blur(), Invert())")
    assert "Invert()" in text  # the registry line went in
    registry.write_text(text)
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "DALI_PIPES_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    _edit(package / "config.py", "    blur: GaussianBlur | None = None\n",
          "    blur: GaussianBlur | None = None\n    invert: RandomInvert | None = None\n",
          "from .ops.grayscale import RandomGrayscale\n",
          "from .ops.grayscale import RandomGrayscale\nfrom .ops.invert import RandomInvert\n")
    _edit(package / "__init__.py", "from .ops.grayscale import RandomGrayscale\n",
          "from .ops.grayscale import RandomGrayscale\nfrom .ops.invert import RandomInvert\n",
          '    "RandomErasing",\n', '    "RandomErasing",\n    "RandomInvert",\n')
    result = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "data")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "dali-cpu inverted exactly" in result.stdout and "torchvision inverted exactly" in result.stdout
    assert '"op": "CropMirrorNormalize"' in result.stdout  # the GPU graph with the new op defined


def _edit(path, *pairs: str) -> None:
    """Each (old, new) pair replaced once; each old text must be there."""
    text = path.read_text()
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert text.count(old) == 1, (path.name, old)
        text = text.replace(old, new)
    path.write_text(text)
