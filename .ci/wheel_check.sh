#!/usr/bin/env bash
# The wheel as a user gets it: `pip install .` (not editable) into a fresh venv, with every dependency
# resolved from pyproject.toml alone, then the shipped smoke pipeline run from an unrelated folder.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q torch==2.13.0
"$tmp/venv/bin/pip" install -q .
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
"$tmp/venv/bin/textgen" run --list
"$tmp/venv/bin/textgen" run smoke
test -s runs/smoke/samples.txt
echo "wheel check: ok"
