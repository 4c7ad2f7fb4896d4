"""Throughput of the loaders side by side, in one run: `dali-pipes bench` and benchmarks/throughput.py.

Contenders on the same files with the same cores: dali-gpu (with CUDA), dali-cpu, the torchvision
fallback, the classic pipeline of PyTorch's ImageNet example (PIL ImageFolder + DataLoader with
one worker per core), and the ceiling: decode-only throughput (DALI's libjpeg-turbo decoder on all
cores, nothing else). Each runs one warm-up epoch, then `repeats` timed epochs; the median is
reported with CPU utilisation, peak host RSS (process tree) and peak GPU memory (device-wide).
Timings are ratios measured side by side: never assertions in tests.
"""

from __future__ import annotations

import io
import json
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import torch

from ..kernels.tv import intra_op_threads
from ..loader import default_num_threads, make_loader
from . import ffcv as ffcv_contender

CLASSIC, CEILING, TIMM, FFCV = "classic-torchvision", "decode-only", "timm", ffcv_contender.NAME
LOCAL_ONLY = (CLASSIC, TIMM)  # PIL ImageFolder readers: a local tree only
MIN_CPU_WINDOW_S = 1.0


@dataclass
class Result:
    contender: str
    mode: str  # "train" | "eval"
    images_per_s: float
    epoch_rates: list[float]
    cpu_util: float | None  # fraction of all cores busy, process tree (None: run too short to tell)
    peak_rss_mb: float
    peak_gpu_mb: float | None
    threads: int
    batch_size: int
    extra: dict = field(default_factory=dict)


class _Monitor:
    """Samples the process tree's RSS and the GPU's used memory in the background."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_rss, self.peak_gpu = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._me = psutil.Process()

    def _tree(self):
        return [self._me, *self._me.children(recursive=True)]

    def _run(self):
        while not self._stop.is_set():
            rss = 0
            for p in self._tree():
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            if torch.cuda.is_available():
                free, total = torch.cuda.mem_get_info()
                self.peak_gpu = max(self.peak_gpu, total - free)
            self._stop.wait(self.interval)

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _classic_loader(root, train: bool, batch_size: int, workers: int, recipe=None):
    """pytorch/examples imagenet/main.py: PIL decode + torchvision transforms in DataLoader workers
    (with a `recipe`'s augmentations, and its MixUp/CutMix in the collate as torchvision's references)."""
    import torchvision.datasets as datasets
    import torchvision.transforms as T

    normalize = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    pil, tensor = recipe.classic_transforms() if recipe is not None else ([], [])
    transform = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), *pil, T.ToTensor(), normalize,
                           *tensor]) if train \
        else T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), normalize])
    from ..sources import ImageFolderSource, resolve_source

    source = resolve_source(root)
    dataset = datasets.ImageFolder(str(root), transform) if isinstance(source, ImageFolderSource) \
        else _SourceImages(source, transform)
    mixer = recipe.classic_mixer(len(dataset.classes)) if recipe is not None and train else None
    return _ForkSafe(torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=train, num_workers=workers, pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0, collate_fn=_MixingCollate(mixer) if mixer is not None else None))


class _SourceImages(torch.utils.data.Dataset):
    """The classic loader's dataset over data that is not an ImageFolder tree (parquet, shards, a
    saved HF dataset): each sample's bytes decoded by PIL, then the transform, as ImageFolder does."""

    def __init__(self, source, transform):
        self.source, self.transform = source, transform
        self.classes = self.source.classes

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        from PIL import Image

        image = Image.open(io.BytesIO(self.source.read(index))).convert("RGB")
        return self.transform(image), int(self.source.targets[index])


class _MixingCollate:
    """torchvision's references: the default collate, then MixUp or CutMix on the batch (in the worker)."""

    def __init__(self, mixer):
        self.mixer = mixer

    def __call__(self, samples):
        return self.mixer(*torch.utils.data.default_collate(samples))


def _timm_loader(root, train: bool, batch_size: int, workers: int, recipe=None):
    """timm's own loader (`timm.data.create_loader`: PIL decode in DataLoader workers) on the same
    recipe: RandomResizedCrop(224) + flip, or Resize(256) + CenterCrop(224), bilinear, ImageNet
    normalization, no colour jitter unless a `recipe` asks (its timm arguments; its MixUp/CutMix
    through timm's `Mixup` on each batch, as timm's train.py without the prefetcher); timm's CUDA
    prefetcher where there is a GPU."""
    from timm.data import ImageDataset, create_loader

    cuda = torch.cuda.is_available()
    options = dict(color_jitter=None)
    if recipe is not None and train:
        if recipe.timm is None:
            raise ValueError(f"timm's loader cannot express recipe {recipe.name!r}: {recipe.differs.get('timm')}")
        options.update(recipe.timm)
    dataset = ImageDataset(str(root))
    loader = create_loader(
        dataset, input_size=(3, 224, 224), batch_size=batch_size, is_training=train,
        interpolation="bilinear", crop_pct=0.875, num_workers=workers, use_prefetcher=cuda,
        device=torch.device("cuda" if cuda else "cpu"), pin_memory=cuda, persistent_workers=workers > 0, **options)
    if dataset.transform is not None:  # timm's posterize at 0 bits raises under Pillow >= 12 (recipes says why)
        from .recipes import zero_bit_posterize_as_black

        zero_bit_posterize_as_black(dataset.transform)
    mixer = None
    if recipe is not None and train and recipe.mix is not None:
        from timm.data import Mixup

        mixer = Mixup(mixup_alpha=recipe.mix["mixup_alpha"], cutmix_alpha=recipe.mix["cutmix_alpha"],
                      switch_prob=recipe.mix["switch_prob"], label_smoothing=recipe.mix["label_smoothing"],
                      num_classes=len(dataset.reader.class_to_idx))
    if hasattr(loader, "loader"):  # timm's CUDA PrefetchLoader around the DataLoader
        loader.loader = _ForkSafe(loader.loader)
        return _Mixing(loader, mixer) if mixer is not None else loader
    return _Mixing(_ForkSafe(loader), mixer) if mixer is not None else _ForkSafe(loader)


class _Mixing:
    """timm's train.py: `images, targets = mixup_fn(images, targets)` on each batch."""

    def __init__(self, loader, mixer):
        self.loader, self.mixer = loader, mixer

    def __iter__(self):
        for images, targets in self.loader:
            if len(targets) % 2:  # timm's Mixup needs an even batch (train.py drops the last one)
                continue
            yield self.mixer(images, targets)


class _ForkSafe:
    """A DataLoader whose workers fork safely next to DALI pipelines (see tv.engine.fork_safe_iter)."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        from ..tv.engine import fork_safe_iter

        return fork_safe_iter(self.loader)


class _DecodeOnly:
    """DALI's CPU decoder over the same files and cores, no resize: the decode ceiling."""

    def __init__(self, root, batch_size: int, threads: int):
        from nvidia.dali import fn, pipeline_def, types

        from ..sampling import EpochPlan
        from ..sources import resolve_source

        source = resolve_source(root)
        self.plan = EpochPlan(len(source), batch_size, False, False, seed=0)
        feeder = lambda info: self._batch(source, info)  # noqa: E731

        @pipeline_def(batch_size=batch_size, num_threads=threads, device_id=None, prefetch_queue_depth=2)
        def decode_only():
            encoded = fn.external_source(source=feeder, batch=True, batch_info=True, dtype=types.UINT8)
            return fn.decoders.image(encoded, output_type=types.RGB, adjust_orientation=False)

        self.pipe = decode_only()
        self.pipe.build()
        self.dataset = source

    def _batch(self, source, info):
        import numpy as np

        batches = self.plan.batches(0)
        if info.iteration >= len(batches):
            raise StopIteration
        return [np.frombuffer(source.read(int(i)), dtype=np.uint8) for i in batches[info.iteration]]

    def __iter__(self):
        while True:
            try:
                (out,) = self.pipe.run()
            except StopIteration:
                self.pipe.reset()
                return
            yield None, range(len(out))


def epoch_rates(loader, epochs: int):
    """Images per second of each epoch (the first is warm-up)."""
    rates = []
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        count, start = 0, time.perf_counter()
        for images, labels in loader:  # noqa: B007 - the last batch tells where it ran
            count += len(labels)
        if images is not None and images.is_cuda:
            torch.cuda.synchronize()
        rates.append(count / (time.perf_counter() - start))
    return rates


def _build(contender: str, root, train: bool, batch_size: int, threads: int, recipe=None):
    if contender == CLASSIC:
        return _classic_loader(root, train, batch_size, threads, recipe)
    if contender == CEILING:
        return _DecodeOnly(root, batch_size, threads)
    if contender == TIMM:
        return _timm_loader(root, train, batch_size, threads, recipe)
    if contender == FFCV:
        return _ffcv_loader(root, train, batch_size, threads, recipe)
    choice = loader_choice(contender)
    if recipe is not None and train:
        from ..sources import resolve_source

        source = resolve_source(root)
        choice.update(preset=recipe.preset(choice.get("preset")), mix=recipe.mixer(len(source.classes)))
        root = source
    return make_loader(root, train=train, batch_size=batch_size, seed=0, num_threads=threads, **choice)


def _ffcv_loader(root, train: bool, batch_size: int, workers: int, recipe=None):
    """FFCV's Loader on its own conversion of the source (dali_pipes.bench.ffcv), cached in the
    temp folder by the source's fingerprint."""
    import hashlib
    import tempfile

    from ..sources import resolve_source
    from ..sources.base import source_fingerprint

    if recipe is not None and recipe.name not in ffcv_contender.RECIPES:
        raise ValueError(f"FFCV cannot express recipe {recipe.name!r} (it runs {ffcv_contender.RECIPES})")
    source = resolve_source(root)
    key = source_fingerprint(source) or str(Path(root).resolve())
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    cache = Path(tempfile.gettempdir()) / "dali-pipes-ffcv" / digest
    return ffcv_contender.loader(source, cache, train=train, batch_size=batch_size, workers=workers)


def loader_choice(contender: str) -> dict:
    """`BACKEND[:RESAMPLER][+exact-edges]` as make_loader arguments: e.g. `dali-cpu:dali` (DALI's
    fn.resize on the CPU) or `dali-gpu+exact-edges` (the ImageNet preset with exact_edges=True)."""
    name, _, option = contender.partition("+")
    if option not in ("", "exact-edges"):
        raise ValueError(f"contender {contender!r}: the only option after '+' is 'exact-edges'")
    backend, _, resampler = name.partition(":")
    choice = dict(backend=backend, resampler=resampler or "auto")
    if option:
        from ..config import Preprocess, TrainTransform

        choice["preset"] = Preprocess(train=TrainTransform(exact_edges=True))
    return choice


def measure(contender: str, root, *, train: bool, batch_size: int = 64, threads: int | None = None,
            repeats: int = 3, recipe=None) -> Result:
    """One contender's images/s (median of `repeats` epochs after a warm-up), CPU and memory; with a
    `recipe` (dali_pipes.bench.recipes), its train augmentations."""
    threads = threads or default_num_threads()
    loader = _build(contender, root, train, batch_size, threads, recipe)
    try:
        epoch_rates(loader, 1)  # warm-up: worker start, pipeline build, page cache
        with _Monitor() as monitor:
            cpu0, wall0 = monitor.cpu_seconds(), time.perf_counter()
            rates = epoch_rates(loader, repeats)
            wall = time.perf_counter() - wall0
            # CPU times tick every 10 ms per process: shorter windows say nothing
            cpu = (monitor.cpu_seconds() - cpu0) / wall / psutil.cpu_count() if wall >= MIN_CPU_WINDOW_S else None
    finally:
        if hasattr(loader, "close"):
            loader.close()
        del loader
    return Result(contender, "train" if train else "eval", statistics.median(rates), rates, cpu,
                  monitor.peak_rss / 2**20, monitor.peak_gpu / 2**20 if torch.cuda.is_available() else None,
                  threads, batch_size, {"recipe": recipe.name} if recipe is not None else {})


def contenders() -> list[str]:
    """Every contender this machine runs: dali-gpu with CUDA, timm's loader when timm is installed,
    FFCV's when it is."""
    import importlib.util

    names = ["dali-cpu", "torchvision", CLASSIC] + ([TIMM] if importlib.util.find_spec("timm") else [])
    names += ([FFCV] if ffcv_contender.available() else []) + [CEILING]
    return (["dali-gpu"] if torch.cuda.is_available() else []) + names


def _ratio(value: float, base: float | None, fmt: str) -> str:
    return format(value / base, fmt) if base else "-"


def physical_ceiling(root, cores: int, limit: int = 256) -> dict:
    """What no loader that decodes every image on this CPU can beat: one core's rate decoding these
    files (up to `limit` of them, from memory, with libjpeg-turbo / libpng through
    `torchvision.io.decode_image`, one thread), times the cores."""
    from torchvision.io import ImageReadMode, decode_image

    from ..sources import resolve_source

    source = resolve_source(root)
    count = min(limit, len(source))
    datas = [torch.frombuffer(bytearray(source.read(i)), dtype=torch.uint8) for i in range(count)]
    pixels = 0
    with intra_op_threads(1):
        decode_image(datas[0], mode=ImageReadMode.RGB)  # warm-up
        start = time.perf_counter()
        for data in datas:
            pixels += decode_image(data, mode=ImageReadMode.RGB)[0].numel()
        per_core = count / (time.perf_counter() - start)
    return {"per_core": per_core, "cores": cores, "images_per_s": per_core * cores,
            "megapixels_per_s_per_core": per_core * pixels / count / 1e6, "images": count}


def table(results: list[Result], physical: dict | None = None) -> str:
    """Markdown: images/s, ratio to the classic pipeline, to the decode-only contender and to the
    physical ceiling (`physical_ceiling`), CPU, memory."""
    lines = ["| mode | contender | images/s | vs classic | vs decode ceiling | vs physical ceiling | CPU util | "
             "peak RSS MB | peak GPU MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for mode in ("train", "eval"):
        rows = [r for r in results if r.mode == mode]
        classic = next((r.images_per_s for r in rows if r.contender == CLASSIC), None)
        ceiling = next((r.images_per_s for r in rows if r.contender == CEILING), None)
        for r in rows:
            gpu = f"{r.peak_gpu_mb:.0f}" if r.peak_gpu_mb is not None else "-"
            cpu = f"{r.cpu_util:.0%}" if r.cpu_util is not None else "-"
            top = physical["images_per_s"] if physical else None
            lines.append(f"| {mode} | {r.contender} | {r.images_per_s:.0f} | "
                         f"{_ratio(r.images_per_s, classic, '.2f')}x | "
                         f"{_ratio(r.images_per_s, ceiling, '.0%')} | {_ratio(r.images_per_s, top, '.0%')} | "
                         f"{cpu} | {r.peak_rss_mb:.0f} | {gpu} |")
    return "\n".join(lines)


def recipe_table(results: list[Result], auto: dict[str, str]) -> str:
    """Markdown, one row per recipe: each contender's train images/s, and dali-pipes' `auto` (the
    backend `auto[recipe]` names) against the classic pipeline and timm's loader."""
    from .recipes import RECIPES

    names = list(dict.fromkeys(r.contender for r in results))
    lines = ["| recipe | auto | " + " | ".join(names) + " | auto vs classic | auto vs timm |",
             "| --- | --- |" + " ---: |" * (len(names) + 2)]
    for recipe_name in dict.fromkeys(r.extra.get("recipe") for r in results):
        rows = {r.contender: r.images_per_s for r in results if r.extra.get("recipe") == recipe_name}
        picked = rows.get(auto.get(recipe_name))
        cells = [f"{rows[n]:,.0f}" if n in rows else "-" for n in names]
        ratios = [_ratio(picked, rows.get(base), ".2f") + "x" if picked and rows.get(base) else "-"
                  for base in (CLASSIC, TIMM)]
        lines.append(f"| {recipe_name} | {auto.get(recipe_name, '-')} | " + " | ".join(cells) + " | "
                     + " | ".join(ratios) + " |")
    recipes = list(dict.fromkeys(r.extra.get("recipe") for r in results))
    notes = [f"- {name}, {who}: {why}" for name in recipes for who, why in RECIPES[name].differs.items()]
    if FFCV in names:
        notes += [f"- {name}, ffcv: FFCV has no op of this recipe beyond crop and flip (row left out)"
                  for name in recipes if name not in ffcv_contender.RECIPES]
    return "\n".join(lines + ([""] + notes if notes else []))


def bar_chart(results: list[Result], path: str | Path) -> Path:
    """A PNG of horizontal bars, images/s per contender and mode (PIL only: no plotting dependency)."""
    from PIL import Image, ImageDraw

    rows = [(f"{r.mode} {r.contender}", r.images_per_s) for r in results]
    width, bar_h, label_w = 900, 26, 260
    top = max(v for _, v in rows) or 1.0
    image = Image.new("RGB", (width, 20 + bar_h * len(rows)), "white")
    draw = ImageDraw.Draw(image)
    for i, (label, value) in enumerate(rows):
        y = 10 + i * bar_h
        draw.text((6, y + 6), label, fill="black")
        length = int((width - label_w - 90) * value / top)
        draw.rectangle([label_w, y + 3, label_w + length, y + bar_h - 5],
                       fill=(46, 110, 190) if "dali" in label else (150, 150, 150))
        draw.text((label_w + length + 6, y + 6), f"{value:.0f} img/s", fill="black")
    path = Path(path)
    image.save(path)
    return path


def write_json(results: list[Result], path: str | Path, **meta) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=1))
    return path


def machine() -> dict:
    import platform

    import torchvision

    info = {"cpu_cores": psutil.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cuda": torch.version.cuda}
    try:
        import nvidia.dali

        info["dali"] = nvidia.dali.__version__
    except ImportError:
        info["dali"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_suite(root, *, contenders_: list[str], batch_size: int, threads: int | None, repeats: int,
              modes=("train", "eval"), progress=None, recipe=None) -> list[Result]:
    results = []
    for contender in contenders_:
        if recipe is not None and contender == TIMM and recipe.timm is None:
            continue  # timm cannot express it: the recipe table says why
        if recipe is not None and contender == FFCV and recipe.name not in ffcv_contender.RECIPES:
            continue  # nor FFCV (the table's notes)
        for mode in modes:
            results.append(measure(contender, root, train=mode == "train", batch_size=batch_size,
                                   threads=threads, repeats=repeats, recipe=recipe))
            if progress is not None:
                progress(results[-1])
    return results


def soak(root, *, backend: str, epochs: int = 20, batch_size: int = 64, threads: int | None = None) -> dict:
    """Host RSS (process tree) after every epoch and its peak during it, and the GPU's peak used memory
    per epoch: flat after the second epoch, or a leak."""
    loader = make_loader(root, train=True, batch_size=batch_size, seed=0, num_threads=threads,
                         **loader_choice(backend))
    me = psutil.Process()
    rss, peak, gpu = [], [], []
    with loader:
        for epoch in range(epochs):
            loader.set_epoch(epoch)
            with _Monitor() as monitor:
                for _ in loader:
                    pass
            peak.append(monitor.peak_rss / 2**20)
            rss.append(sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 2**20)
            if torch.cuda.is_available():
                gpu.append(monitor.peak_gpu / 2**20)
    after = min(2, len(rss) - 1)
    growth = lambda values: (max(values[after:]) - values[after]) / values[after] if values else None  # noqa: E731
    return {"backend": backend, "epochs": epochs, "rss_mb": rss, "peak_rss_mb": peak, "gpu_mb": gpu,
            "rss_growth_after_epoch_2": growth(rss), "peak_rss_growth_after_epoch_2": growth(peak),
            "gpu_growth_after_epoch_2": growth(gpu)}
