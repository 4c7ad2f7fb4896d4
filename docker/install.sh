#!/usr/bin/env bash
# The one install recipe for dali-pipes, used by docker/Dockerfile and run by .ci/run on every CI
# run (so it is tested even where no Docker engine runs):
#
#   bash docker/install.sh [VENV_DIR]      (default /opt/venv)
#
# Creates a virtual environment with the Python found as $PYTHON (default python3) and installs the
# project with its bench and s3 extras and the versions pinned in docker/constraints.txt. No system
# packages are needed beyond Python with venv: every dependency (DALI, torch, the CUDA runtime
# libraries) ships as a wheel. With $WHEELHOUSE set (a folder that `pip download` filled from the
# same constraints, for the same Python: docker/ci-image.sh makes one), nothing is downloaded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
venv=${1:-/opt/venv}
python=${PYTHON:-python3}

"$python" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
  || { echo "install.sh: Python >= 3.10 is needed ($python)" >&2; exit 1; }
offline=()
[ -n "${WHEELHOUSE:-}" ] && offline=(--no-index --find-links "$WHEELHOUSE")
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check -q "${offline[@]}" \
  -c "$here/constraints.txt" "$project[bench,s3]"
"$venv/bin/dali-pipes" --help >/dev/null
echo "install.sh: dali-pipes installed in $venv"
