#!/usr/bin/env bash
# Builds the image and labels it with what it installed (not with versions written by hand):
#
#   bash docker/build.sh [extra build arguments ...]
#
# ENGINE (docker or podman, default: whichever is found), TAG (default dali-pipes). First the build
# stage is built and asked for its versions (Python, dali-pipes, DALI, torch, torchvision), then the
# image is built with them as labels (the second build reuses the first's layers). Podman needs
# --format docker for the HEALTHCHECK (the OCI format has none); this script passes it.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${ENGINE:-$(command -v docker >/dev/null && echo docker || echo podman)}
tag=${TAG:-dali-pipes}
format=()
[ "$engine" = podman ] && format=(--format docker)

"$engine" build "${format[@]}" --target build -t "$tag-build-stage" -f docker/Dockerfile "$@" .
versions=$("$engine" run --rm --network none --entrypoint /opt/venv/bin/python "$tag-build-stage" -c '
import platform
from importlib.metadata import version
print(f"io.dali-pipes.python.version={platform.python_version()}")
for label, dist in (("version", "dali-pipes"), ("dali.version", "nvidia-dali-cuda120"), ("torch.version", "torch"),
                    ("torchvision.version", "torchvision")):
    print(f"io.dali-pipes.{label}={version(dist)}")
')
labels=()
while IFS= read -r line; do labels+=(--label "$line"); done <<<"$versions"
project_version=$(sed -n 's/^io\.dali-pipes\.version=//p' <<<"$versions")
"$engine" build "${format[@]}" "${labels[@]}" --label "org.opencontainers.image.version=$project_version" \
  -t "$tag" -f docker/Dockerfile "$@" .
"$engine" rmi "$tag-build-stage" >/dev/null
echo "build.sh: $tag built with $engine, labelled:"
printf '  %s\n' "${versions//$'\n'/$'\n'  }"
