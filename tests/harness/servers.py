"""Real servers on loopback for tests and benchmarks of remote data (nothing here is a mock):

- `S3Server()`: moto's S3 server (`moto[server]`, what s3fs's own tests use) on a free port;
- `HTTPServer(folder)`: an aiohttp file server with Range requests, ETags and directory index pages
  whose folder links end in "/" (as nginx's and Python's http.server's do, so fsspec can walk them);
- `HubServer(folder)`: the Hugging Face Hub's endpoints that `huggingface_hub`'s `HfFileSystem`
  (hf://) calls, answering for the dataset repositories laid out under `folder` (ORG/NAME/...):
  repository info, tree listings, paths-info and `resolve` downloads with Range requests;
- `FaultyProxy(upstream)`: a reverse proxy that adds a per-request latency and fails chosen
  requests (an HTTP status, or a dropped connection) a given number of times: the transient and
  permanent faults of real object stores, injected in front of a real server.

Each runs in a thread of its own with its own event loop, and stops on `close()` (or `with`).
Needs the test extra (moto, aiohttp).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
import socket
import threading
from pathlib import Path

S3_CREDENTIALS = {"key": "testing", "secret": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 server on 127.0.0.1; `storage_options` for s3fs, `client()` for boto3."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def storage_options(self, endpoint: str | None = None) -> dict:
        return {**S3_CREDENTIALS, "client_kwargs": {"endpoint_url": endpoint or self.endpoint,
                                                    "region_name": "us-east-1"}}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_CREDENTIALS["key"],
                            aws_secret_access_key=S3_CREDENTIALS["secret"], region_name="us-east-1")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def upload(self, local: str | Path, url: str) -> None:
        """Copy a local file or folder tree to `s3://bucket/prefix`."""
        import s3fs

        fs = s3fs.S3FileSystem(**self.storage_options())
        local = Path(local)
        if local.is_dir():
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                fs.put_file(str(path), f"{url.rstrip('/')}/{path.relative_to(local).as_posix()}")
        else:
            fs.put_file(str(local), url)

    def close(self) -> None:
        self._server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LoopThread:
    """An asyncio loop in a daemon thread running one aiohttp application on a free port."""

    def __init__(self, make_app):
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(make_app,), daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the loopback server did not start")

    def _run(self, make_app):
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(make_app(), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HTTPServer(_LoopThread):
    """Serves `folder` at http://127.0.0.1:PORT/ (files with Range support, ETag and Content-Length);
    every response waits `latency_s` first (a store's request latency without a proxy's CPU cost)."""

    def __init__(self, folder: str | Path, latency_s: float = 0.0):
        self.folder = Path(folder).resolve()
        self.latency_s = latency_s
        self.requests = 0
        super().__init__(self._app)
        self.url = f"http://127.0.0.1:{self.port}"

    def _app(self):
        from aiohttp import web

        async def handle(request):
            self.requests += 1
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            rel = request.match_info["path"]
            path = (self.folder / rel).resolve()
            if self.folder != path and self.folder not in path.parents:
                raise web.HTTPForbidden()
            if path.is_dir():
                links = [f'<a href="{html.escape(c.name)}{"/" if c.is_dir() else ""}">{html.escape(c.name)}</a>'
                         for c in sorted(path.iterdir())]
                return web.Response(text="<html><body>" + "<br>".join(links) + "</body></html>",
                                    content_type="text/html")
            if not path.is_file():
                raise web.HTTPNotFound()
            return _file_response(request, path)

        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", handle)
        app.router.add_route("HEAD", "/{path:.*}", handle)
        return app


class HubServer(_LoopThread):
    """The Hub's file endpoints for the dataset repositories under `folder` (`folder/ORG/NAME/...`),
    at revision "main" (one fixed commit): what `HfFileSystem(endpoint=server.url)` needs to list,
    stat and read files (`hf://datasets/ORG/NAME/...`)."""

    COMMIT = "0" * 40

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).resolve()
        self.requests = 0
        super().__init__(self._app)
        self.url = f"http://127.0.0.1:{self.port}"

    def _entry(self, repo: Path, path: Path) -> dict:
        rel = path.relative_to(repo).as_posix()
        oid = hashlib.sha1(rel.encode(), usedforsecurity=False).hexdigest()
        if path.is_dir():
            return {"type": "directory", "path": rel, "oid": oid}
        return {"type": "file", "path": rel, "size": path.stat().st_size, "oid": oid}

    def _app(self):
        from aiohttp import web

        routes = [
            (r"api/datasets/([^/]+/[^/]+)(?:/revision/[^/]+)?", self._info),
            (r"api/datasets/([^/]+/[^/]+)/tree/[^/]+/?(.*)", self._tree),
            (r"api/datasets/([^/]+/[^/]+)/paths-info/[^/]+", self._paths_info),
            (r"datasets/([^/]+/[^/]+)/resolve/[^/]+/(.+)", self._resolve),
        ]

        async def handle(request):
            self.requests += 1
            for pattern, answer in routes:
                match = re.fullmatch(pattern, request.match_info["path"])
                if match:
                    repo = (self.folder / match[1]).resolve()
                    if self.folder not in repo.parents or not repo.is_dir():
                        raise web.HTTPNotFound()
                    return await answer(request, repo, *match.groups()[1:])
            raise web.HTTPNotFound()

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handle)
        return app

    def _inside(self, repo: Path, rel: str) -> Path:
        from aiohttp import web

        path = (repo / rel).resolve()
        if path != repo and repo not in path.parents:
            raise web.HTTPForbidden()
        return path

    async def _info(self, request, repo: Path):
        from aiohttp import web

        files = [self._entry(repo, p)["path"] for p in sorted(repo.rglob("*")) if p.is_file()]
        return web.json_response({"id": repo.relative_to(self.folder).as_posix(), "sha": self.COMMIT,
                                  "private": False, "siblings": [{"rfilename": f} for f in files]})

    async def _tree(self, request, repo: Path, rel: str):
        from aiohttp import web

        base = self._inside(repo, rel)
        if not base.is_dir():
            raise web.HTTPNotFound()
        found = base.rglob("*") if request.query.get("recursive", "").lower() in ("1", "true") else base.iterdir()
        return web.json_response([self._entry(repo, p) for p in sorted(found)])

    async def _paths_info(self, request, repo: Path):
        from aiohttp import web

        form = await request.post()
        paths = [self._inside(repo, p) for p in form.getall("paths", [])]
        return web.json_response([self._entry(repo, p) for p in paths if p.exists()])

    async def _resolve(self, request, repo: Path, rel: str):
        from aiohttp import web

        path = self._inside(repo, rel)
        if not path.is_file():
            raise web.HTTPNotFound()
        response = _file_response(request, path)
        response.headers["X-Repo-Commit"] = self.COMMIT
        return response


def _file_response(request, path: Path):
    """A file, or the one byte range asked (`Range: bytes=a-b`, `a-`, `-n`), with ETag and Length.
    Read synchronously: on loopback from the page cache that is cheaper than a thread hop."""
    from aiohttp import web

    stat = path.stat()
    size = stat.st_size
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{stat.st_mtime_ns:x}-{size:x}"'}
    start, end, status = 0, size, 200
    asked = request.headers.get("Range")
    if asked:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", asked.strip())
        if match and match[1]:
            start, end = int(match[1]), min(size, int(match[2]) + 1) if match[2] else size
        elif match and match[2]:
            start = max(0, size - int(match[2]))
        if not match or not (match[1] or match[2]) or start >= end:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        status, headers["Content-Range"] = 206, f"bytes {start}-{end - 1}/{size}"
    if request.method == "HEAD":
        return web.Response(status=status, headers={**headers, "Content-Length": str(end - start)})
    with open(path, "rb") as f:
        f.seek(start)
        return web.Response(status=status, body=f.read(end - start), headers=headers)


class FaultyProxy(_LoopThread):
    """A reverse proxy to `upstream` (http://host:port): every request waits `latency_s` first;
    `fail(substring, times, status)` makes the next `times` requests whose path contains `substring`
    answer `status` (an int) or drop the connection (status "reset"). `requests` counts what passed."""

    def __init__(self, upstream: str, latency_s: float = 0.0):
        self.upstream = upstream.rstrip("/")
        self.latency_s = latency_s
        self._faults: list[list] = []
        self._lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        super().__init__(self._app)
        self.url = f"http://127.0.0.1:{self.port}"

    def fail(self, substring: str, times: int, status: int | str = 503) -> None:
        with self._lock:
            self._faults.append([substring, times, status])

    def _fault_for(self, path: str):
        with self._lock:
            self.requests += 1
            for fault in self._faults:
                if fault[0] in path and fault[1] > 0:
                    fault[1] -= 1
                    self.failed += 1
                    return fault[2]
        return None

    def _app(self):
        import aiohttp
        from aiohttp import web

        session: dict = {}

        async def handle(request):
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            fault = self._fault_for(request.path_qs)
            if fault == "reset":
                request.transport.close()  # the client sees the connection drop mid-request
                return web.Response(status=500)
            if fault is not None:
                return web.Response(status=int(fault), text=f"injected {fault}")
            if "client" not in session:
                session["client"] = aiohttp.ClientSession(auto_decompress=False)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            headers["Host"] = request.host
            body = await request.read()
            async with session["client"].request(request.method, self.upstream + request.path_qs, headers=headers,
                                                 data=body or None, allow_redirects=False) as upstream:
                payload = await upstream.read()
                drop = {"transfer-encoding", "content-encoding", "connection"}
                if request.method != "HEAD":  # a HEAD answer keeps the object's length
                    drop.add("content-length")
                response = web.Response(status=upstream.status, body=payload or None,
                                        headers={k: v for k, v in upstream.headers.items() if k.lower() not in drop})
                return response

        async def close_session(app):
            if "client" in session:
                await session["client"].close()

        app = web.Application(client_max_size=2**30)
        app.on_cleanup.append(close_session)
        app.router.add_route("*", "/{path:.*}", handle)
        return app


def serve(argv=None) -> int:
    """`python tests/harness/servers.py {s3,http} ROOT [--latency-ms N]`: serve ROOT (uploaded to
    s3://data/ for s3, behind a proxy) with N ms added to every request, print {"url", "storage_options"} as one
    JSON line, and run until stdin closes. Benchmarks run the servers in a process of their own."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python tests/harness/servers.py")
    parser.add_argument("kind", choices=("s3", "http"))
    parser.add_argument("root", help="a local folder to serve")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.kind == "s3":
        server = S3Server()
        server.create_bucket("data")
        server.upload(args.root, "s3://data")
        proxy = FaultyProxy(server.endpoint, latency_s=args.latency_ms / 1000)
        print(json.dumps({"url": "s3://data", "storage_options": server.storage_options(proxy.url)}), flush=True)
    else:
        server = proxy = HTTPServer(args.root, latency_s=args.latency_ms / 1000)
        print(json.dumps({"url": server.url + "/", "storage_options": None}), flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or exits)
    print(json.dumps({"requests": proxy.requests}), flush=True)
    proxy.close()
    server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
