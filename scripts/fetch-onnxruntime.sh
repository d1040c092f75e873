#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library from the PyPI `onnxruntime` wheel and print its absolute path.
#
#   scripts/fetch-onnxruntime.sh [dest_dir]     ->  /abs/dest_dir/libonnxruntime.so.1.31.1
#
# dest_dir defaults to ${WEIR_CACHE_DIR:-~/.cache/weir}/onnxruntime-1.31.1. Weir loads the library at
# run time (ort's `load-dynamic`): point ORT_DYLIB_PATH at the printed path. The Dockerfile, CI and
# the tests all run this same script, so the image ships exactly the library the tests used.
#
# Why a wheel: it is the one official build of libonnxruntime that a package registry serves. The
# wheel is the CPython 3.12 one whatever Python runs this script (the library inside is the same for
# every Python version), so one sha256 per architecture pins it. manylinux_2_28 means glibc >= 2.28:
# Debian bookworm (2.36) and distroless cc-debian12 qualify.
#
# Idempotent: if the library is already in dest_dir nothing is downloaded. Progress goes to stderr;
# stdout is only the path, so `ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)` works.
set -euo pipefail

ORT_VERSION=1.31.1
PYTHON=${PYTHON:-python3}
arch=${WEIR_ORT_ARCH:-$(uname -m)}
case "$arch" in
  x86_64 | amd64)
    platform=manylinux_2_28_x86_64
    sha256=1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536
    ;;
  aarch64 | arm64)
    platform=manylinux_2_28_aarch64
    sha256=0b9a492176886992e0e875f06bc0367e333f5fff11711a2d642e18b02f3009cc
    ;;
  *)
    echo "fetch-onnxruntime: no onnxruntime $ORT_VERSION wheel pinned for architecture '$arch'" >&2
    exit 1
    ;;
esac

so_name=libonnxruntime.so.$ORT_VERSION
dest=${1:-${WEIR_CACHE_DIR:-$HOME/.cache/weir}/onnxruntime-$ORT_VERSION}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd -P)

if [ -s "$dest/$so_name" ]; then
  echo "$dest/$so_name"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --require-hashes needs the pin in a requirements file.
echo "onnxruntime==$ORT_VERSION --hash=sha256:$sha256" >"$tmp/requirements.txt"
echo "fetch-onnxruntime: downloading onnxruntime $ORT_VERSION ($platform) from PyPI" >&2
"$PYTHON" -m pip download \
  --quiet --disable-pip-version-check --no-cache-dir \
  --no-deps --only-binary=:all: --require-hashes \
  --platform "$platform" --python-version 3.12 --implementation cp --abi cp312 \
  -d "$tmp/wheel" -r "$tmp/requirements.txt" >&2

wheel=$(ls "$tmp"/wheel/onnxruntime-"$ORT_VERSION"-*.whl)

# Unzip with Python's zipfile: slim Python images have no `unzip`. Write beside the target and
# rename, so an interrupted run never leaves a truncated library that the check above would trust.
"$PYTHON" - "$wheel" "onnxruntime/capi/$so_name" "$dest/$so_name" <<'EOF'
import os
import shutil
import sys
import zipfile

wheel, member, target = sys.argv[1:4]
partial = target + ".partial"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(partial, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
os.chmod(partial, 0o755)
os.replace(partial, target)
EOF

echo "$dest/$so_name"
