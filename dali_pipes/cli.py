"""The `dali-pipes` command: `demo` (the main job on a built-in synthetic set), `bench`, `preview`,
`stats`, `convert`, `graph`, `info`.

Errors print one line and exit non-zero; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time

from .bench.recipes import RECIPES
from .checks import writable_folder
from .ops import CONFIGURED
from .resamplers import RESAMPLERS, resolve_resampler
from .storage import is_url


def _cmd_demo(args) -> int:
    from tqdm import tqdm

    from . import make_loader
    from .synthetic import make_synthetic_imagefolder

    if args.data is None:
        with tqdm(total=args.images, desc="making synthetic JPEGs", unit="img", disable=args.quiet) as bar:
            root = make_synthetic_imagefolder(num_images=args.images, progress=bar.update)
    else:
        root = args.data
    loader = make_loader(root, train=not args.eval, batch_size=args.batch_size, backend=args.backend,
                         seed=args.seed, num_threads=args.threads, storage_options=_storage_options(args))
    print(f"dali-pipes demo: backend={loader.backend} data={root} samples={len(loader.dataset)} "
          f"classes={len(loader.dataset.classes)} batch_size={loader.batch_size} batches/epoch={len(loader)}")
    rates = []
    with loader:
        for epoch in range(args.epochs):
            loader.set_epoch(epoch)
            count, start = 0, time.perf_counter()
            with tqdm(total=len(loader), desc=f"epoch {epoch}", unit="batch", disable=args.quiet) as bar:
                for images, labels in loader:  # noqa: B007 - the last batch is reported
                    count += len(labels)
                    bar.update(1)
            elapsed = time.perf_counter() - start
            rates.append(count / elapsed)
            print(f"epoch {epoch}: {count} images in {elapsed:.2f} s = {rates[-1]:.0f} images/s "
                  f"(batch {tuple(images.shape)} {images.dtype} on {images.device})")
    best = max(rates[1:] or rates)
    print(f"backend {loader.backend}: {best:.0f} images/s ({'eval' if args.eval else 'train'} pipeline"
          f"{', first epoch excluded as warm-up' if len(rates) > 1 else ''})")
    return 0


def _source_from_args(args):
    from .sources import resolve_source
    from .sources.coco import CocoSource

    if args.coco_images:
        return CocoSource(args.source, args.coco_images)
    remote = is_url(args.source)  # convert's --storage-options may be its destination's
    options = {k: v for k, v in (("image_column", args.image_column), ("label_column", args.label_column),
                                 ("storage_options", _storage_options(args) if remote else None)) if v is not None}
    return resolve_source(args.source, **options)


def _storage_options(args) -> dict | None:
    """--storage-options JSON (fsspec's options for a URL), or None: credentials from the environment."""
    import json

    text = getattr(args, "storage_options", None)
    if text is None:
        return None
    try:
        options = json.loads(text)
    except ValueError as err:
        raise ValueError(f"--storage-options is not JSON: {err}") from None
    if not isinstance(options, dict):
        raise ValueError(f"--storage-options must be a JSON object, got {text!r}")
    return options


def _storage_argument(parser) -> None:
    parser.add_argument("--storage-options", default=None, metavar="JSON",
                        help='fsspec options for a URL, e.g. \'{"client_kwargs": {"endpoint_url": '
                             '"http://minio:9000"}}\' (default: credentials from the environment)')


def _cmd_stats(args) -> int:
    import json

    from tqdm import tqdm

    from .stats import cached_stats

    source = _source_from_args(args)
    with tqdm(total=len(source), desc="pixel statistics", unit="img", disable=args.quiet) as bar:
        stats = cached_stats(source, refresh=args.refresh, progress=bar.update, num_workers=args.workers)
    if args.json:
        print(json.dumps({"mean": stats.mean, "std": stats.std, "images": stats.images, "pixels": stats.pixels}))
        return 0
    print(f"{source!r}: {stats.images} images, {stats.pixels} pixels")
    print(f"mean = ({', '.join(f'{m:.8f}' for m in stats.mean)})")
    print(f"std  = ({', '.join(f'{v:.8f}' for v in stats.std)})")
    print(f"use: Normalize(mean={tuple(round(m, 8) for m in stats.mean)}, std={tuple(round(v, 8) for v in stats.std)})"
          " or Normalize.per_dataset()")
    return 0


def _cmd_convert(args) -> int:
    from tqdm import tqdm

    from .convert import convert_to_parquet, convert_to_shards

    source = _source_from_args(args)
    with tqdm(total=len(source), desc="writing shards", unit="img", disable=args.quiet) as bar:
        if args.format == "parquet":
            shards = convert_to_parquet(source, args.dst, shard_size=args.shard_size, split=args.split,
                                        progress=bar.update)
        else:
            shards = convert_to_shards(source, args.dst, shard_size=args.shard_size, progress=bar.update,
                                       storage_options=_storage_options(args))
    kind = "parquet file(s) in the Hub's layout" if args.format == "parquet" else "shard(s)"
    print(f"wrote {len(source)} samples in {len(shards)} {kind} to {args.dst}"
          f"{'' if args.format == 'parquet' else ' (indexed)'}")
    return 0


def _preview_config(args):
    """The preset with the augmentation flags of `preview` and `graph` applied (each op reads its own)."""
    from dataclasses import replace

    from .config import resolve_preset

    cfg = resolve_preset(args.preset)
    if getattr(args, "transform", None):
        cfg = _translated(args).preprocess
    if getattr(args, "size", None):
        cfg = cfg.resized(args.size)
    train = cfg.train
    if getattr(args, "exact_edges", False):
        train = replace(train, exact_edges=True)
    chosen = {op.field: op.from_arguments(args) for op in CONFIGURED}
    return replace(cfg, train=replace(train, **{k: v for k, v in chosen.items() if v is not None}))


def _translated(args):
    """`--transform MODULE:NAME`: the user's torchvision transform, translated (printed once)."""
    import importlib

    from .translate import from_torchvision

    if not hasattr(args, "translation"):
        module, _, name = args.transform.partition(":")
        if not name:
            raise SystemExit(f"--transform {args.transform!r}: MODULE:NAME, e.g. mytraining.data:train_transform")
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        args.translation = from_torchvision(obj)
        print(f"dali-pipes: {args.transform} translates to\n{args.translation}", file=sys.stderr)
    return args.translation


def _cmd_graph(args) -> int:
    import json

    from .dali.describe import graph_ops, summary
    resampler = resolve_resampler(args.resampler, f"dali-{args.device}")  # refuses torch on the GPU
    cfg = _preview_config(args)
    if args.transform and not (args.train or args.eval):  # the mode the transform is
        args.eval = not _translated(args).train
    rows = summary(graph_ops(cfg, train=not args.eval, device=args.device, encoded=not args.arrays,
                             resampler=resampler))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    mode = "eval" if args.eval else "train"
    what = args.transform or f"preset {args.preset!r}"
    print(f"dali-pipes graph: the {mode} pipeline of {what} on device {args.device!r} "
          f"({'raw arrays' if args.arrays else 'encoded images'}; defined here, not run: no GPU needed)")
    width = max(len(r["op"]) for r in rows)
    print(f"  {'#':>2}  {'operator':<{width}}  {'device':<6}  count")
    for i, r in enumerate(rows, 1):
        print(f"  {i:>2}  {r['op']:<{width}}  {r['device']:<6}  {r['count']}")
    if not args.eval and (cfg.train.random_erasing is not None):
        print("  then random erasing on the batch, in PyTorch, on the loader's device")
    print("  MixUp/CutMix (make_loader(mix=...)) run on the batch in PyTorch, on the loader's device")
    return 0


def _cmd_preview(args) -> int:
    from .backend import resolve_backend
    from .preview import augmented_rows, render_grid

    backends = args.backends or [name for name in ("dali-gpu", "dali-cpu", "torchvision")
                                 if name != "dali-gpu" or resolve_backend("auto").name == "dali-gpu"]
    if args.source is None:
        from .synthetic import make_synthetic_imagefolder

        args.source = str(make_synthetic_imagefolder(num_images=512))
    source = _source_from_args(args)
    rows = augmented_rows(source, _preview_config(args), backends, args.count, args.seed)
    path = render_grid(rows, args.out)
    print(f"wrote {path}: {args.count} images x {len(rows)} backends ({', '.join(rows)})")
    return 0


def _bench_sources(args):
    from .synthetic import make_synthetic_imagefolder

    if args.data:
        if is_url(args.data):  # one remote source, listed once, shared by the contenders
            from .sources import resolve_source

            return [(args.data, resolve_source(args.data, storage_options=_storage_options(args)))]
        return [(args.data, args.data)]
    sizes = args.sizes if args.sweep == "size" else [args.long_side]
    return [(f"synthetic {args.images} x {side}px", make_synthetic_imagefolder(num_images=args.images, long_side=side))
            for side in sizes]


def _cmd_bench(args) -> int:
    import json

    try:
        from .bench import runner as bench
    except ModuleNotFoundError as err:
        if err.name != "psutil":
            raise
        print("dali-pipes bench measures CPU and memory with psutil: pip install 'dali-pipes[bench]'",
              file=sys.stderr)
        return 2
    from .loader import default_num_threads

    out = writable_folder(args.out, "bench --out")  # before the benchmark, not after it
    names = args.contenders or bench.contenders()
    if args.data and is_url(args.data):
        local_only = [n for n in names if n in bench.LOCAL_ONLY]
        if args.contenders and local_only:
            raise ValueError(f"contenders {local_only} read local folders only; {args.data} is a URL")
        names = [n for n in names if n not in bench.LOCAL_ONLY]
    cores = default_num_threads()
    if args.soak:
        report = bench.soak(_bench_sources(args)[0][1], backend=names[0], epochs=args.soak,
                            batch_size=args.batch_size, threads=args.threads)
        (out / "soak.json").write_text(json.dumps(report, indent=1))
        print(json.dumps({k: [round(x) for x in v] if isinstance(v, list) else v for k, v in report.items()}))
        return 0
    if args.recipe:
        return _bench_recipes(args, bench, out)
    variants = [dict(threads=t, batch_size=args.batch_size) for t in range(1, cores + 1)] if args.sweep == "threads" \
        else [dict(threads=args.threads, batch_size=b) for b in args.batch_sizes] if args.sweep == "batch" \
        else [dict(threads=args.threads, batch_size=args.batch_size)]
    results, ceilings = [], {}
    for label, root in _bench_sources(args):
        physical = ceilings[label] = bench.physical_ceiling(root, cores)
        print(f"== {label}: physical ceiling {physical['images_per_s']:,.0f} images/s (one core decodes "
              f"{physical['per_core']:,.0f} images/s, {physical['megapixels_per_s_per_core']:.0f} MP/s, "
              f"x {cores} cores)", flush=True)
        for variant in variants:
            print(f"== {label}, threads={variant['threads'] or cores}, batch={variant['batch_size']}", flush=True)
            rows = bench.run_suite(root, contenders_=names, repeats=args.repeats, modes=args.modes,
                                   progress=None if args.quiet else lambda r: print(
                                       f"   {r.mode:5s} {r.contender:20s} {r.images_per_s:7.0f} images/s", flush=True),
                                   **variant)
            for r in rows:
                r.extra.update(data=label, **variant)
            print(bench.table(rows, physical), flush=True)
            results += rows
    bench.write_json(results, out / "throughput.json", machine=bench.machine(), repeats=args.repeats,
                     physical_ceiling=ceilings)
    bench.bar_chart(results, out / "throughput.png")
    print(f"wrote {out / 'throughput.json'} and {out / 'throughput.png'}")
    return 0


def _bench_recipes(args, bench, out) -> int:
    """`bench --recipe`: each recipe's train augmentations on every contender, then one table."""
    from .backend import resolve_backend

    names = args.recipe if "all" not in args.recipe else list(RECIPES)
    contenders = args.contenders or [n for n in bench.contenders() if n != bench.CEILING]
    label, root = _bench_sources(args)[0]
    results, auto = [], {}
    for name in names:
        recipe = RECIPES[name]
        auto[name] = resolve_backend("auto", train_cfg=recipe.preset().train).name
        print(f"== recipe {name}: {recipe.about} ({label})", flush=True)
        results += bench.run_suite(root, contenders_=contenders, repeats=args.repeats, modes=["train"],
                                   batch_size=args.batch_size, threads=args.threads, recipe=recipe,
                                   progress=None if args.quiet else lambda r: print(
                                       f"   {r.contender:20s} {r.images_per_s:7.0f} images/s", flush=True))
    print(bench.recipe_table(results, auto), flush=True)
    bench.write_json(results, out / "recipes.json", machine=bench.machine(), repeats=args.repeats, auto=auto)
    print(f"wrote {out / 'recipes.json'}")
    return 0


def _cmd_info(args) -> int:
    import torch
    import torchvision

    from . import __version__
    from .backend import dali_import_error, resolve_backend

    def version(module: str) -> str:
        try:
            return __import__(module, fromlist=["__version__"]).__version__
        except Exception as err:
            return f"not available ({type(err).__name__})"

    cuda = torch.cuda.is_available()
    rows = [
        ("dali-pipes", __version__),
        ("python", platform.python_version()),
        ("nvidia-dali", version("nvidia.dali") if dali_import_error() is None
         else f"not available ({dali_import_error()})"),
        ("torch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("datasets", version("datasets")),
        ("numpy", version("numpy")),
        ("CUDA (torch build)", torch.version.cuda or "none (CPU build)"),
        ("GPU visible", ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
         if cuda else "no"),
    ]
    from .cuda_env import current_verdict

    rows.append(("NVIDIA driver", current_verdict().line))
    choice = resolve_backend("auto")
    rows.append(("backend 'auto'", f"{choice.name} ({choice.reason})"))
    if choice.name == "dali-cpu":
        rows.append(("backend 'auto', train", "torchvision where the train transform's estimate there (each op's "
                     "measured cost, summed) is lower by more than 10%; loader.backend_reason says why"))
    if choice.name.startswith("dali"):

        kind = resolve_resampler("auto", choice.name)
        rows.append(("resampler 'auto'", f"{kind} ({RESAMPLERS[kind]})"))
    rows.append(("what runs where", "dali-pipes graph [--eval] [--device gpu|cpu] (no GPU needed)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0




class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, no usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def augmentation_arguments(parser) -> None:
    """The train augmentations `preview` and `graph` can switch on: each op's own flags."""
    for op in CONFIGURED:
        op.add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dali-pipes", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="stream a dataset (default: a built-in synthetic JPEG set) "
                                       "through the loader and print images/s")
    demo.add_argument("--data", default=None, help="an ImageFolder tree, shards, parquet files, a saved HF dataset, "
                                                   "or a URL of one (default: synthetic, made and cached)")
    _storage_argument(demo)
    demo.add_argument("--images", type=int, default=512, help="synthetic set size (default 512)")
    demo.add_argument("--backend", default="auto", help="auto | dali | dali-gpu | dali-cpu | torchvision")
    demo.add_argument("--batch-size", type=int, default=64)
    demo.add_argument("--epochs", type=int, default=2, help="the first is reported as warm-up")
    demo.add_argument("--threads", type=int, default=None, help="decode threads / workers (default: all cores)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--eval", action="store_true", help="run the eval pipeline instead of train")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)

    def source_arguments(p, optional=False):
        p.add_argument("source", nargs="?" if optional else None,
                       help="an ImageFolder tree, a saved HF dataset, a folder of .tar shards, parquet files "
                            "(each a path or a URL: s3://, gs://, https://, hf://), or a COCO instances JSON "
                            "(with --coco-images)"
                            + (" (default: the synthetic set)" if optional else ""))
        p.add_argument("--image-column", default=None, help="HF datasets: the image column")
        p.add_argument("--label-column", default=None, help="HF datasets: the label column")
        p.add_argument("--coco-images", default=None, help="COCO: the folder of the images the JSON names")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        _storage_argument(p)

    bench = sub.add_parser("bench", help="throughput of every loader side by side (table, JSON, PNG chart)")
    bench.add_argument("--data", default=None, help="an ImageFolder tree, saved HF dataset, shards or parquet files "
                                                    "(default: synthetic ImageNet-like JPEGs, made and cached)")
    _storage_argument(bench)
    bench.add_argument("--images", type=int, default=512, help="synthetic set size (default 512)")
    bench.add_argument("--long-side", type=int, default=500, help="synthetic image long side (default 500)")
    bench.add_argument("--contenders", nargs="+", default=None,
                       help="default: dali-gpu (with CUDA), dali-cpu, torchvision, classic-torchvision, decode-only; "
                            "BACKEND[:RESAMPLER][+exact-edges] varies one, e.g. dali-cpu:dali, dali-gpu+exact-edges")
    bench.add_argument("--modes", nargs="+", default=["train", "eval"], choices=["train", "eval"])
    bench.add_argument("--batch-size", type=int, default=64)
    bench.add_argument("--threads", type=int, default=None, help="threads / workers (default: all cores)")
    bench.add_argument("--repeats", type=int, default=3, help="timed epochs after one warm-up (median)")
    bench.add_argument("--sweep", choices=["threads", "batch", "size"], default=None)
    bench.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    bench.add_argument("--sizes", type=int, nargs="+", default=[256, 500, 1000], help="long sides for --sweep size")
    bench.add_argument("--recipe", nargs="+", default=None, metavar="NAME",
                       choices=[*RECIPES, "all"],
                       help=f"train recipes to compare every contender on (dali_pipes.bench.recipes: "
                            f"{', '.join(RECIPES)}, or all)")
    bench.add_argument("--soak", type=int, default=0, metavar="EPOCHS",
                       help="instead: memory over EPOCHS epochs of the first contender")
    bench.add_argument("--out", default="bench-out", help="folder for throughput.json / .png")
    bench.add_argument("--quiet", action="store_true")
    bench.set_defaults(func=_cmd_bench)

    preview = sub.add_parser("preview", help="a PNG grid of the same images under the train augmentation, "
                                             "one row per backend")
    source_arguments(preview, optional=True)
    preview.add_argument("--out", default="preview.png", help="the PNG to write (default preview.png)")
    preview.add_argument("--preset", default="imagenet", help="imagenet | cifar10 | cifar100")
    preview.add_argument("--transform", default=None, metavar="MODULE:NAME",
                       help="a torchvision transform to translate instead of the preset (dali_pipes.from_torchvision)")
    preview.add_argument("--size", type=int, default=None, help="output size (default: the preset's)")
    preview.add_argument("--count", type=int, default=8, help="images per row (default 8)")
    augmentation_arguments(preview)
    preview.add_argument("--backends", nargs="+", default=None, help="default: every backend this machine runs")
    preview.add_argument("--seed", type=int, default=0)
    preview.set_defaults(func=_cmd_preview)

    stats = sub.add_parser("stats", help="exact per-channel mean and std of a dataset (cached next to it)")
    source_arguments(stats)
    stats.add_argument("--refresh", action="store_true", help="recompute even when cached")
    stats.add_argument("--workers", type=int, default=None, help="decode workers (default: cores, at most 8)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=_cmd_stats)

    convert = sub.add_parser("convert", help="write WebDataset shards (.jpg/.png + .cls), or parquet in the "
                                             "Hugging Face Hub's layout, from a dataset")
    source_arguments(convert)
    convert.add_argument("dst", help="a new or empty folder (or URL prefix: s3://, gs://, ...) for the shards")
    convert.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default 1000)")
    convert.add_argument("--format", choices=("webdataset", "parquet"), default="webdataset",
                         help="webdataset (default) or parquet: DST/data/SPLIT-00000-of-0000N.parquet, image "
                              "{bytes, path} + ClassLabel, as the Hub stores imagenet-1k (a local folder)")
    convert.add_argument("--split", default="train", help="the parquet files' split name (default train)")
    convert.set_defaults(func=_cmd_convert)

    graph = sub.add_parser("graph", help="the DALI operators of a loader and the device each runs on "
                                         "(no GPU needed)")
    graph.add_argument("--preset", default="imagenet", help="imagenet | cifar10 | cifar100")
    graph.add_argument("--transform", default=None, metavar="MODULE:NAME",
                       help="a torchvision transform to translate instead of the preset (dali_pipes.from_torchvision)")
    mode = graph.add_mutually_exclusive_group()
    mode.add_argument("--train", action="store_true", help="the train pipeline (default)")
    mode.add_argument("--eval", action="store_true", help="the eval pipeline")
    graph.add_argument("--device", choices=("gpu", "cpu"), default="gpu", help="default gpu")
    augmentation_arguments(graph)
    graph.add_argument("--exact-edges", action="store_true", help="TrainTransform(exact_edges=True)")
    graph.add_argument("--arrays", action="store_true", help="inputs are raw HWC arrays (no decoder)")
    graph.add_argument("--resampler", choices=tuple(RESAMPLERS), default="dali",
                       help="dali (fn.resize; the GPU's) or torch (dali-cpu's default)")
    graph.add_argument("--json", action="store_true", help='a JSON list of {"op", "device", "count"}')
    graph.set_defaults(func=_cmd_graph)

    info = sub.add_parser("info", help="versions, GPU visibility and the backend 'auto' picks")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("dali-pipes: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"dali-pipes {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
