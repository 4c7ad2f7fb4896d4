"""The feed of the DALI backends on slow storage: one run, the same files, side by side.

Storage: the page cache (warm), the page cache dropped before every epoch (root only: the kernel's
`vm.drop_caches`), and a FUSE filesystem that adds 0, 2 and 10 ms to every open and read
(tests/harness/latencyfs.py, mounted here: root, libfuse2, fusepy). Rows: the concurrent-read ceiling
(threads reading the epoch's files, nothing else), the DALI feeder alone (read-ahead, header checks,
parameter draws; no decoding), dali-cpu, dali-cpu with DALI's resampler (the GPU's graph), the
torchvision backend, the classic DataLoader (PIL ImageFolder). `--layouts` adds the same images as
Hub-style parquet files (`window` 1, so each epoch reads them again) and WebDataset shards, each on
the same storages (the feeder-alone and classic rows are the tree's). Figures: images/s (median of the
timed epochs after a warm-up), the training thread's time per batch inside the feeder, peak RSS.

    python benchmarks/feed.py [--images 2048] [--batch-size 256] [--delays-ms 0 2 10] [--repeats 2]
                              [--layouts folder parquet shards]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import psutil

from dali_pipes import PRESETS, ParquetSource, make_loader
from dali_pipes.bench.runner import _classic_loader, loader_choice
from dali_pipes.convert import convert_to_parquet, convert_to_shards
from dali_pipes.dali.pipeline import BatchFeeder
from dali_pipes.readers import default_read_threads
from dali_pipes.sampling import EpochPlan
from dali_pipes.sources import resolve_source
from dali_pipes.state import LoaderState
from dali_pipes.synthetic import make_synthetic_imagefolder


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def ceiling(root: Path, threads: int, prepare, images: int) -> float:
    """Images/s of `threads` threads reading every file under `root` once (the storage's concurrent
    ceiling): `images` over the seconds it takes."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    prepare()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(Path.read_bytes, files))
    return images / (time.perf_counter() - start)


def feeder_alone(root: Path, batch_size: int, repeats: int, prepare) -> tuple[float, float]:
    """(images/s, median training-thread ms per batch) of the DALI feeder without DALI (the loop
    takes each batch as soon as it is ready: the ms are the wait for the read-ahead)."""
    source = resolve_source(root)
    state = LoaderState(EpochPlan(len(source), batch_size, True, False, 0))
    feeder = BatchFeeder(source, state, PRESETS["imagenet"].train)
    rates, calls = [], []
    try:
        for epoch in range(repeats + 1):
            prepare()
            feeder.start_epoch(epoch)
            count, start, iteration = 0, time.perf_counter(), 0
            while True:
                t = time.perf_counter()
                try:
                    out = feeder(SimpleNamespace(iteration=iteration))
                except StopIteration:
                    break
                if epoch:
                    calls.append(time.perf_counter() - t)
                count, iteration = count + len(out[0]), iteration + 1
            if epoch:
                rates.append(count / (time.perf_counter() - start))
    finally:
        feeder.close()
    return statistics.median(rates), 1e3 * statistics.median(calls)


def loader_rate(root: Path, contender: str, batch_size: int, threads: int, repeats: int, prepare,
                layout: str = "folder"):
    """(images/s, the training thread's median ms per call of the DALI feeder or None, peak RSS MiB)."""
    me, peak = psutil.Process(), 0
    if contender == "classic":
        loader, closing = _classic_loader(root, True, batch_size, threads), None
    else:
        source = ParquetSource(root, window=1) if layout == "parquet" else root
        loader = make_loader(source, train=True, batch_size=batch_size, seed=0, num_threads=threads,
                             **loader_choice(contender))
        closing = loader
    feeder = getattr(getattr(loader, "engine", None), "_feeder", None)
    rates, waited = [], None
    try:
        for epoch in range(repeats + 1):
            prepare()
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            count, start = 0, time.perf_counter()
            for _, labels in loader:
                count += len(labels)
                peak = max(peak, me.memory_info().rss + sum(c.memory_info().rss for c in me.children(True)))
            if epoch:
                rates.append(count / (time.perf_counter() - start))
            if feeder is not None and not epoch:
                feeder.call_seconds.clear()  # count the timed epochs only
    finally:
        if closing is not None:
            closing.close()
        elif getattr(loader, "_iterator", None) is not None:  # the classic loader's persistent workers
            loader._iterator._shutdown_workers()
    if feeder is not None and feeder.call_seconds:
        waited = 1e3 * statistics.median(feeder.call_seconds)
    return statistics.median(rates), waited, peak / 2**20


def main() -> int:
    # the slow filesystem is a test harness (tests/harness/latencyfs.py, nothing of the project imported)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "harness"))
    from latencyfs import LatencyMount, fuse_missing

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--delays-ms", type=float, nargs="+", default=[0, 2, 10])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="decode threads / workers (default: cores)")
    parser.add_argument("--contenders", nargs="+", default=["dali-cpu", "dali-cpu:dali", "torchvision", "classic"])
    parser.add_argument("--layouts", nargs="+", default=["folder"], choices=["folder", "parquet", "shards"])
    args = parser.parse_args()
    threads = args.threads or len(os.sched_getaffinity(0))
    folder = make_synthetic_imagefolder(num_images=args.images)
    work = Path(tempfile.mkdtemp(prefix="dali-pipes-feed-"))
    layouts = {"folder": folder}
    if "parquet" in args.layouts:
        convert_to_parquet(resolve_source(folder), work / "parquet", shard_size=100)  # the Hub's older row groups
        layouts["parquet"] = work / "parquet" / "data"
    if "shards" in args.layouts:
        convert_to_shards(resolve_source(folder), work / "shards", shard_size=256)
        layouts["shards"] = work / "shards"
    storages = [("page cache", None, lambda: None)]
    if drop_caches():
        storages.append(("page cache dropped", None, drop_caches))
    else:
        print("(not root, or no /proc/sys/vm/drop_caches: the cold-cache rows are left out)")
    why = fuse_missing()
    if why is None:
        storages += [(f"FUSE +{d:g} ms", d, lambda: None) for d in args.delays_ms]
    else:
        print(f"(no FUSE: {why} - the FUSE rows are left out)")
    readers = default_read_threads()
    print(f"{args.images} synthetic JPEGs, batch {args.batch_size}, {threads} decode threads/workers, "
          f"{readers} read-ahead threads, {args.repeats} timed epochs after a warm-up (median)")
    print("| storage | row | images/s | training thread ms/batch | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, delay, prepare in storages:
        for layout in args.layouts:
            data = layouts[layout]
            mount = LatencyMount(data, delay, count=False) if delay is not None else None
            root = mount.point if mount else data
            try:
                top = ceiling(root, readers, prepare, args.images)
                print(f"| {name} | {layout}: ceiling, {readers} threads read | {top:,.0f} | | |", flush=True)
                if layout == "folder":
                    rate, ms = feeder_alone(root, args.batch_size, args.repeats, prepare)
                    print(f"| {name} | folder: the feeder alone | {rate:,.0f} | {ms:.2f} | |", flush=True)
                for contender in args.contenders:
                    if contender == "classic" and layout != "folder":
                        continue
                    rate, ms, rss = loader_rate(root, contender, args.batch_size, threads, args.repeats, prepare,
                                                layout)
                    shown = f"{ms:.2f}" if ms is not None else ""
                    print(f"| {name} | {layout}: {contender} | {rate:,.0f} | {shown} | {rss:,.0f} |", flush=True)
            finally:
                if mount:
                    mount.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "training"
    sys.exit(main())
