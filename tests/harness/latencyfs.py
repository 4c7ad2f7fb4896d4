"""A read-only passthrough FUSE filesystem that adds a fixed delay to every open and every read: a
stand-in for NFS / Lustre / EFS, where each request pays a network round trip. For tests and
benchmarks of slow storage (a real filesystem, not a mock).

    python tests/harness/latencyfs.py SOURCE_DIR MOUNTPOINT --delay-ms 2 [--stats FILE]
    (it imports nothing of the project: a file of its own, run as a script)
    (foreground; `fusermount -u MOUNTPOINT` stops it)

or `with LatencyMount(source, delay_ms) as mount: ... mount.point ...`.

Needs root (the FUSE device), Debian's libfuse2 and fusepy (the test and bench extras). The page
cache is bypassed (direct_io), so every read reaches this process and pays its delay, as on a
network mount. `--stats FILE` keeps {"requests", "most_in_flight", "requesters"} there: how many
opens and reads were served, the most served at once, and how many each thread asked for (by its id,
`threading.get_native_id()`).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def fuse_missing() -> str | None:
    """Why a latency filesystem cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting FUSE needs root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "no fusermount (Debian's fuse package)"
    try:
        import fuse  # noqa: F401 - fusepy, which loads libfuse2 at import
    except ImportError:
        return "fusepy is not installed (pip install fusepy: the test and bench extras)"
    except OSError as err:
        return f"libfuse2 is missing (apt-get install libfuse2): {err}"
    return None


def serve(source: str, mountpoint: str, delay_s: float, stats: str | None = None) -> None:
    from fuse import FUSE, FuseOSError, Operations, fuse_get_context

    class LatencyFS(Operations):
        def __init__(self):
            self.root = os.path.realpath(source)
            self.guard = threading.Lock()  # not `lock`: that name is a FUSE operation
            self.requests = self.in_flight = self.most = 0
            self.requesters: dict[int, int] = {}  # the kernel's id of each thread that asked: its requests

        def _path(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def _slow(self, request):
            requester = fuse_get_context()[2]
            with self.guard:
                self.requesters[requester] = self.requesters.get(requester, 0) + 1
                self.requests += 1
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            try:
                time.sleep(delay_s)
                return request()
            finally:
                with self.guard:
                    self.in_flight -= 1
                    if stats:  # replaced whole, so a reader never sees half of it
                        Path(stats + ".part").write_text(json.dumps({"requests": self.requests,
                                                                     "most_in_flight": self.most,
                                                                     "requesters": self.requesters}))
                        os.replace(stats + ".part", stats)

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._path(path))
            except OSError as err:
                raise FuseOSError(err.errno) from None
            return {key: getattr(st, key) for key in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                                                       "st_nlink", "st_size", "st_uid")}

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._path(path))]

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise FuseOSError(errno.EROFS)
            return self._slow(lambda: os.open(self._path(path), os.O_RDONLY))

        def read(self, path, size, offset, fh):
            return self._slow(lambda: os.pread(fh, size, offset))

        def release(self, path, fh):
            os.close(fh)

    FUSE(LatencyFS(), mountpoint, foreground=True, ro=True, nothreads=False, direct_io=True, max_read=1 << 20)


class LatencyMount:
    """This module's filesystem over `source` at a temporary mountpoint (`point`), `delay_ms` per
    request, served by a process of its own; `stats()` reads its request counts."""

    def __init__(self, source, delay_ms: float, *, count: bool = True, timeout: float = 20):
        why = fuse_missing()
        if why:
            raise RuntimeError(f"cannot mount a latency filesystem: {why}")
        self.point = Path(tempfile.mkdtemp(prefix="dali-pipes-fuse-"))
        self._stats = self.point.with_name(self.point.name + ".json")
        counting = ["--stats", str(self._stats)] if count else []
        # this file run as a script: the server needs fusepy only, not the package (torch, DALI)
        command = [sys.executable, str(Path(__file__).resolve()), str(source), str(self.point),
                   "--delay-ms", str(delay_ms), *counting]
        # its log to a file: a pipe nobody reads would fill and stall the filesystem
        self._log = self.point.with_name(self.point.name + ".log")
        with open(self._log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)  # noqa: S603 - this module
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.point):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                log = self._log.read_text(errors="replace")[-500:]
                self._remove_files()
                raise RuntimeError(f"the latency filesystem did not mount at {self.point}: {log}")
            time.sleep(0.05)

    def stats(self) -> dict:
        """{"requests", "most_in_flight", "requesters"} so far (with `count=True`, the default; counting costs the
        server a small file write per request, so a benchmark turns it off)."""
        if not self._stats.exists():
            return {"requests": 0, "most_in_flight": 0, "requesters": {}}
        stats = json.loads(self._stats.read_text())
        stats["requesters"] = {int(tid): count for tid, count in stats["requesters"].items()}
        return stats

    def close(self) -> None:
        """Unmount and stop the server. A file still open or mapped on the mount (a memory-mapped
        Arrow table still referenced) keeps it busy: it is then detached lazily and the server ends
        when the last reference goes, or after 20 s."""
        unmount = shutil.which("fusermount") or shutil.which("fusermount3")
        done = subprocess.run([unmount, "-u", str(self.point)], check=False,  # noqa: S603 - our own mount
                              capture_output=True)
        if done.returncode != 0 and os.path.ismount(self.point):
            subprocess.run([unmount, "-uz", str(self.point)], check=False,  # noqa: S603 - our own mount
                           capture_output=True)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._remove_files()

    def _remove_files(self) -> None:
        self.point.rmdir()
        for path in (self._stats, self._stats.with_name(self._stats.name + ".part"), self._log):
            path.unlink(missing_ok=True)

    def __enter__(self) -> LatencyMount:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--stats", default=None, help="a file to keep the request counts in")
    args = parser.parse_args(argv)
    serve(args.source, args.mountpoint, args.delay_ms / 1000, args.stats)


if __name__ == "__main__":
    main()
