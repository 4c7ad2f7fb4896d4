"""Object storage: s3://, gs://, https:// (any fsspec protocol) under one small interface.

fsspec (with s3fs, gcsfs, or aiohttp for HTTP) is the client; this module adds what a loader needs
on top of it:
- `Store.fetch`: many objects or byte ranges at once (fsspec's concurrent `cat_ranges`), with
  transient failures (timeouts, 5xx, throttling, connection resets) retried with exponential
  backoff and jitter up to a cap, and permanent ones (404, denied, a missing bucket) reported at
  once as `SourceError`s naming the URL, in place, so one bad object costs one sample.
The loader's read-ahead (dali.prefetch) asks for the coming batches while the current ones decode.

A `Store` re-creates its filesystem in each process (DataLoader workers fork; an async client's
event loop does not survive a fork), and pickles as its URL and options.
"""

from __future__ import annotations

import os
import random
import time

from .errors import SourceError

RETRIES = 4  # attempts after the first, for transient errors
BACKOFF_S = 0.1  # first wait; doubles per attempt, with jitter, capped at BACKOFF_CAP_S
BACKOFF_CAP_S = 5.0
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def is_url(source) -> bool:
    """A string naming a remote protocol (`s3://`, `gs://`, `https://`, ...); local paths and
    `file://` are not URLs here."""
    return isinstance(source, str) and "://" in source and not source.startswith(("file://", "local://"))


def _status(err: BaseException) -> int | None:
    status = getattr(err, "status", None)  # aiohttp's ClientResponseError (HTTP)
    if isinstance(status, int):
        return status
    response = getattr(err, "response", None)  # botocore's ClientError, when not translated
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code if isinstance(code, int) else None
    return None


def is_transient(err: BaseException) -> bool:
    """Worth another try: timeouts, connection errors, 5xx and throttling. Not: missing objects,
    denied access, bad requests (retrying those only delays the error). A client that turns a
    failure into FileNotFoundError (fsspec's HTTP `info` does, for any failure) keeps the cause."""
    cause = err.__cause__ or err.__context__
    if cause is not None and cause is not err and is_transient(cause):
        return True
    if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    status = _status(err)
    if status is not None:
        return status in _TRANSIENT_STATUS
    if isinstance(err, (TimeoutError, ConnectionError)):
        return True
    name = type(err).__name__
    if any(word in name for word in ("Timeout", "Connection", "Disconnected", "Payload", "IncompleteRead")):
        return True  # aiohttp's ClientConnectionError/ServerDisconnectedError/ClientPayloadError, botocore's
    return isinstance(err, OSError) and getattr(err, "errno", None) in (5, 32, 104, 110, 111)  # EIO, EPIPE, ...


def describe_error(err: BaseException) -> str:
    if isinstance(err, FileNotFoundError):
        return "not found (404, or the bucket does not exist)"
    if isinstance(err, PermissionError) or _status(err) in (401, 403):
        return f"access denied (check the credentials / storage_options): {err}"
    status = _status(err)
    return f"{type(err).__name__}{f' (HTTP {status})' if status else ''}: {err}"


class Store:
    """The objects under `url` through fsspec, with `storage_options` as fsspec takes them."""

    def __init__(self, url: str, storage_options: dict | None = None, *, retries: int = RETRIES,
                 backoff_s: float = BACKOFF_S):
        import fsspec

        if storage_options is not None and not isinstance(storage_options, dict):
            raise TypeError(f"storage_options must be a dict (fsspec's options), got {type(storage_options).__name__}")
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.retries, self.backoff_s = retries, backoff_s
        try:
            fs, self.root = fsspec.url_to_fs(self.url, **self.storage_options)
        except (ImportError, ValueError) as err:
            raise SourceError(f"{url}: no filesystem for this protocol ({err}); for s3:// install "
                              "'dali-pipes[s3]', for gs:// 'dali-pipes[gcs]'") from None
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._fs, self._pid = fs, os.getpid()

    @property
    def fs(self):
        if self._pid != os.getpid():  # a forked worker: a client of its own
            import fsspec

            self._fs, self._pid = fsspec.filesystem(self.protocol, **self.storage_options), os.getpid()
        return self._fs

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fs"], state["_pid"] = None, None
        return state

    def url_of(self, path: str) -> str:
        """The URL of a path as the filesystem names it (for messages and cache keys)."""
        return path if "://" in path else f"{self.protocol}://{path}"

    def call(self, what: str, function, *args, **kwargs):
        """`function(*args)` (a listing, an info, a whole read), retried while the error is transient;
        a permanent error or the last transient one becomes a SourceError naming `what`."""
        for attempt in range(self.retries + 1):
            try:
                return function(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - classified below; unknown errors propagate
                if not _is_storage_error(err):
                    raise
                if not is_transient(err) or attempt == self.retries:
                    raise _gave_up(what, err, attempt) from None
                self._sleep(attempt)

    def fetch(self, paths: list[str], starts: list[int | None], ends: list[int | None]) -> list:
        """Bytes of each (path, start, end) (None: the whole object), fetched concurrently; a failed
        one is a SourceError in its place. Transient failures are retried, only those."""
        results: list = [None] * len(paths)
        pending = list(range(len(paths)))
        for attempt in range(self.retries + 1):
            try:
                got = self.fs.cat_ranges([paths[i] for i in pending], [starts[i] for i in pending],
                                         [ends[i] for i in pending], on_error="return")
            except Exception as err:  # noqa: BLE001 - a failure of the whole call counts for each read
                if not _is_storage_error(err):
                    raise
                got = [err] * len(pending)
            retry = []
            for i, value in zip(pending, got):
                if not isinstance(value, BaseException):
                    expected = None if starts[i] is None or ends[i] is None else ends[i] - starts[i]
                    if expected is None or len(value) == expected:
                        results[i] = value
                        continue
                    value = OSError(5, f"short read: {len(value)} of {expected} bytes")
                if is_transient(value) and attempt < self.retries:
                    retry.append(i)
                else:
                    results[i] = _gave_up(self.url_of(paths[i]), value, attempt)
            if not retry:
                break
            self._sleep(attempt)
            pending = retry
        return results

    def _sleep(self, attempt: int) -> None:
        delay = min(BACKOFF_CAP_S, self.backoff_s * 2**attempt)
        time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security

    def write_bytes(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)


def _gave_up(what: str, err: BaseException, attempt: int) -> SourceError:
    tries = f" (after {attempt + 1} attempts)" if attempt else ""
    return SourceError(f"{what}: {describe_error(err)}{tries}")


def _is_storage_error(err: BaseException) -> bool:
    """Errors a remote read can raise (OS-level, HTTP client, cloud SDK), not programming errors."""
    if isinstance(err, (OSError, TimeoutError, ConnectionError)):
        return True
    module = type(err).__module__
    return module.startswith(("aiohttp", "botocore", "aiobotocore", "s3fs", "gcsfs", "google", "fsspec", "asyncio"))


def etag_of(info: dict) -> str | None:
    """The object's ETag, or what the store has instead (a hash, a modification time)."""
    for key in ("ETag", "etag", "md5Hash", "crc32c", "mtime", "LastModified"):
        if info.get(key) is not None:
            return str(info[key])
    return None


def object_stamp(info: dict) -> dict:
    """What tells an object changed: its size and ETag (or the store's equivalent)."""
    return {"size": info.get("size"), "etag": etag_of(info)}
