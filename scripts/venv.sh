#!/usr/bin/env bash
# Create (once) and print the path of a Python virtualenv for a pinned requirements file.
#
#   scripts/venv.sh <name> <requirements.txt>   ->  prints the venv directory
#
# Venvs live under ${WEIR_CACHE_DIR:-~/.cache/weir}/venvs/<name>-<hash of the requirements>, so a
# changed pin makes a fresh venv and an unchanged one is reused between CI runs.
set -euo pipefail
name=$1
req=$2
cache=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
hash=$(sha256sum "$req" | cut -c1-12)
dir="$cache/venvs/$name-$hash"
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  mkdir -p "$cache/venvs"
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$dir/.complete"
fi
echo "$dir"
