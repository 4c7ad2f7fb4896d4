"""Prints the `podman run` arguments of one service of docker/compose.yaml, as Compose would start it
(`${VAR:-default}` from the environment, the anchor merged): image, user, environment, shm size,
ipc, volumes (relative sources against the compose file's folder), entrypoint and command. The GPU
reservation is left out (docker/ci-image.sh runs the services on a machine without one, with
--network none). One argument per line, for `mapfile`.

    python docker/compose_run.py SERVICE [IMAGE]
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

COMPOSE = Path(__file__).with_name("compose.yaml")
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def substitute(value: str) -> str:
    return _VARIABLE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def run_arguments(service: str, image: str | None = None) -> list[str]:
    spec = yaml.safe_load(COMPOSE.read_text())["services"][service]
    args = ["--rm", "--network", "none"]
    if "user" in spec:
        args += ["--user", substitute(spec["user"])]
    for key, value in (spec.get("environment") or {}).items():
        args += ["-e", f"{key}={substitute(str(value))}"]
    if spec.get("ipc"):
        args += ["--ipc", spec["ipc"]]
    if "shm_size" in spec and spec.get("ipc") != "host":  # the host's IPC: its own /dev/shm, no size to set
        args += ["--shm-size", substitute(spec["shm_size"]).replace("gb", "g")]
    for volume in spec.get("volumes", []):
        source, _, rest = substitute(volume).partition(":")
        if source.startswith("."):
            source = str((COMPOSE.parent / source).resolve())
        args += ["-v", f"{source}:{rest}"]
    entrypoint = spec.get("entrypoint")
    if entrypoint:
        args += ["--entrypoint", substitute(entrypoint[0])]
    args.append(image or spec["image"])
    args += [substitute(str(part)) for part in (entrypoint or [])[1:] + spec.get("command", [])]
    return args


if __name__ == "__main__":
    print("\n".join(run_arguments(*sys.argv[1:3])))
