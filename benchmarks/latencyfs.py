"""A read-only passthrough FUSE filesystem that adds a fixed delay to every open and every read: a
stand-in for NFS / Lustre / EFS, where each request pays a network round trip.

    python benchmarks/latencyfs.py SOURCE_DIR MOUNTPOINT --delay-ms 2   (foreground; fusermount -u to stop)

Needs root (the FUSE device), Debian's libfuse2 and `pip install fusepy`. The kernel's page cache is
bypassed (direct_io), so every read reaches this process and pays its delay, as on a network mount.
"""

from __future__ import annotations

import argparse
import errno
import os
import time

from fuse import FUSE, FuseOSError, Operations


class LatencyFS(Operations):
    def __init__(self, root: str, delay_s: float):
        self.root, self.delay = os.path.realpath(root), delay_s

    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

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
        time.sleep(self.delay)
        return os.open(self._path(path), os.O_RDONLY)

    def read(self, path, size, offset, fh):
        time.sleep(self.delay)
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay-ms", type=float, default=2.0)
    args = parser.parse_args()
    FUSE(LatencyFS(args.source, args.delay_ms / 1000), args.mountpoint, foreground=True, ro=True, nothreads=False,
         direct_io=True, max_read=1 << 20)


if __name__ == "__main__":
    main()
