"""The loader reading from object storage with 20 ms per request, against the same data on local disk.

Same files, same run, side by side: a synthetic ImageNet-like set (JPEG, 500 px long side) as an
ImageFolder tree, as WebDataset shards and as parquet files in the Hub's layout, served by real
servers on loopback in a process of their own - moto's S3 server and an aiohttp file server (Range
requests) - each behind a proxy that adds a fixed latency to every request. For each layout, store
and backend: one warm-up epoch, then the median of `--repeats` epochs (train, batch 64), images/s and
the ratio to local disk; and the peak of the read-ahead's held bytes. Results go to RESULTS.md.

    python benchmarks/storage_latency.py [--images 1024] [--latency-ms 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from dali_pipes import ParquetSource, make_loader
from dali_pipes.bench.runner import loader_choice
from dali_pipes.convert import convert_to_parquet, convert_to_shards
from dali_pipes.sources import resolve_source
from dali_pipes.synthetic import make_synthetic_imagefolder

HARNESS = Path(__file__).resolve().parents[1] / "tests" / "harness"  # the loopback servers: a test harness


class Served:
    """`python tests/harness/servers.py KIND ROOT --latency-ms N` in a child process."""

    def __init__(self, kind: str, root: Path, latency_ms: float):
        self.process = subprocess.Popen([sys.executable, str(HARNESS / "servers.py"), kind, str(root),
                                         "--latency-ms", str(latency_ms)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.process.stdout.readline())

    def close(self) -> int:
        self.process.stdin.close()
        requests = json.loads(self.process.stdout.readline())["requests"]
        self.process.wait(30)
        return requests


def epochs(source, backend: str, repeats: int, batch_size: int, threads: int, storage_options=None, server=None,
           window: int | None = None):
    """Median images/s after a warm-up epoch, peak RSS of the loader's process tree (not the server's)
    and the read-ahead's peak."""
    rates, peak_rss, ahead = [], 0, 0
    me = psutil.Process()
    if window is not None:  # parquet: a window smaller than the data, so each epoch reads it again
        source, storage_options = ParquetSource(source, window=window, storage_options=storage_options), None
    with make_loader(source, train=True, batch_size=batch_size, seed=0, num_threads=threads,
                     storage_options=storage_options, **loader_choice(backend)) as loader:
        for epoch in range(repeats + 1):
            loader.set_epoch(epoch)
            count, start = 0, time.perf_counter()
            for _, labels in loader:
                count += len(labels)
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True)
                                                 if c.pid != server)
                peak_rss = max(peak_rss, rss)
            rates.append(count / (time.perf_counter() - start))
        feeder = getattr(loader.engine, "_feeder", None)  # the DALI engines' read-ahead
        ahead = feeder.ahead.peak_bytes if feeder is not None else 0
    return statistics.median(rates[1:]), peak_rss, ahead


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=["dali-cpu", "torchvision"],
                        help="bench contender names: BACKEND[:RESAMPLER], e.g. dali-cpu:dali")
    parser.add_argument("--stores", nargs="+", default=["http", "s3"])
    parser.add_argument("--layouts", nargs="+", default=["shards", "folder", "parquet"])
    parser.add_argument("--parquet-rows", type=int, default=100, help="rows per parquet file (its row group)")
    parser.add_argument("--parquet-window", type=int, default=1,
                        help="ParquetSource window (row groups; it keeps 2 x window): small, so the epochs stream")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    folder = make_synthetic_imagefolder(num_images=args.images)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dali-pipes-latency-") as tmp:
        shards = Path(tmp) / "shards"
        convert_to_shards(resolve_source(str(folder)), shards, shard_size=256)
        for index in shards.glob("*.dpidx.json"):
            index.unlink()  # the remote copy builds (and caches) its own
        convert_to_parquet(resolve_source(str(folder)), Path(tmp) / "parquet", shard_size=args.parquet_rows)
        local = {"folder": folder, "shards": shards, "parquet": Path(tmp) / "parquet" / "data"}
        for layout in args.layouts:
            for backend in args.backends:
                window = args.parquet_window if layout == "parquet" else None
                base, base_rss, _ = epochs(str(local[layout]), backend, args.repeats, args.batch_size, args.threads,
                                           window=window)
                rows.append(dict(layout=layout, backend=backend, store="local disk", rate=base, ratio=1.0,
                                 rss=base_rss, ahead=0, requests=None))
                print(f"{layout:6s} {backend:11s} local disk        {base:7.0f} images/s", flush=True)
                for store in args.stores:
                    served = Served(store, local[layout], args.latency_ms)
                    try:
                        rate, rss, ahead = epochs(served.info["url"], backend, args.repeats, args.batch_size,
                                                  args.threads, served.info["storage_options"],
                                                  served.process.pid, window)
                    finally:
                        requests = served.close()
                    name = f"{store} +{args.latency_ms:g} ms"
                    rows.append(dict(layout=layout, backend=backend, store=name, rate=rate, ratio=rate / base,
                                     rss=rss, ahead=ahead, requests=requests))
                    print(f"{layout:6s} {backend:11s} {name:17s} {rate:7.0f} images/s  {rate / base:5.2f}x local",
                          flush=True)
    print()
    print("| layout | backend | store | images/s | vs local | peak RSS (MiB) | read-ahead peak (MiB) | requests |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['layout']} | {r['backend']} | {r['store']} | {r['rate']:.0f} | {r['ratio']:.2f} | "
              f"{r['rss'] / 2**20:.0f} | {r['ahead'] / 2**20:.1f} | {r['requests'] or ''} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
