#!/usr/bin/env bash
# Build, on a machine with internet (this one), the wheels that bench/gpu_check.sh installs
# offline on a GPU machine: the pure-Python packages that machine may lack and rnnx itself.
#
#   PYTHON=/work/venv/bin/python bash bench/gpu_wheels.sh [WHEELDIR]     (default bench/wheels)
#
# The dependencies are pinned to the versions installed beside PYTHON (the combination the
# tests pass with here), or to the newest release where PYTHON lacks one, and fetched for the
# GPU machine: CPython 3.12 on x86-64 (most are pure Python).  Old wheels of these names are
# removed first: two versions of one package in the folder stop an offline install.
# See docs/gpu.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=${1:-$REPO/bench/wheels}
TARGET_PY=${RNNX_WHEELS_PYTHON_VERSION:-3.12}  # the GPU machine's Python (docs/gpu.md)

# distribution names (pip's); the module names gpu_check.sh tests for are in its MODULES table
DEPS=(array-api-compat array-api-strict hypothesis sortedcontainers pytest-xdist execnet)

mkdir -p "$WHEELS"
WHEELS=$(cd "$WHEELS" && pwd)
for d in "${DEPS[@]}" rnnx; do
    rm -f "$WHEELS/${d//-/_}"-*.whl
done

pins=()
for d in "${DEPS[@]}"; do
    v=$("$PY" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$d")
    pins+=("$d${v:+==$v}")
done
echo "gpu_wheels: ${pins[*]} -> $WHEELS"
# most are py3-none-any; a compiled one (hypothesis has cp312 builds) must suit the GPU machine: x86-64
"$PY" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$TARGET_PY" --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --dest "$WHEELS" "${pins[@]}"

# rnnx from this working tree; without build isolation where setuptools is already here
iso=()
if "$PY" -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 69)" 2>/dev/null; then
    iso=(--no-build-isolation)
fi
"$PY" -m pip wheel --disable-pip-version-check --no-deps "${iso[@]}" --wheel-dir "$WHEELS" "$REPO"

echo "gpu_wheels: $(ls "$WHEELS" | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1) in $WHEELS:"
ls -1 "$WHEELS"
