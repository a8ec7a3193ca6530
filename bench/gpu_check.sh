#!/usr/bin/env bash
# One call on a fresh GPU machine (torch with CUDA preinstalled, Python 3.12, little else), under 8 minutes:
#   bash bench/gpu_check.sh [OUT_JSON]        # default: $OUT/gpu_check.json (or /tmp/gpu_check.json)
#   GPU_CHECK_CPU=1 bash bench/gpu_check.sh   # dry run: the same sequence on CPU, tiny, in about a minute
# 1. installs the wheels carried in .whl/ (bench/gpu_requirements.txt; nothing from the network),
# 2. runs the gpu-marked tests (pytest -m gpu),
# 3. runs bench/gpu_check.py: GPU-preset training tokens/s and MFU (bf16, with and without --compile),
#    the torch embeddings backend's words/s, decoding tokens/s, adapted evaluation, all into one JSON.
# Needs .gpu_check/classic/ (the classic Seinfeld ids): `python bench/gpu_check.py --prepare RUN_DIR` first.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_JSON=${1:-${OUT:-/tmp}/gpu_check.json}
WORK=${GPU_CHECK_WORK:-/tmp/textgen-gpu-check}
mkdir -p "$WORK" "$(dirname "$OUT_JSON")"
CPU_FLAG=()
[ "${GPU_CHECK_CPU:-0}" = "1" ] && CPU_FLAG=(--cpu)
start=$(date +%s)

echo "[gpu_check] $($PY -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  # one requirement at a time: a wheel that was not carried skips only what needs it
  grep -v '^\s*#' bench/gpu_requirements.txt | grep -v '^\s*$' | while read -r req; do
    name=${req%%==*}
    if $PY -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('${name/pyyaml/yaml}') else 1)" 2>/dev/null; then
      continue  # already installed (numpy often is)
    fi
    $PY -m pip install --quiet --no-index --find-links .whl "$req" >"$WORK/pip-$name.log" 2>&1 \
      && echo "[gpu_check] installed $req" || echo "[gpu_check] could not install $req (see $WORK/pip-$name.log)"
  done
else
  echo "[gpu_check] no .whl/ folder: installing nothing"
fi

export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
TESTS_JSON="$WORK/tests.json"
if $PY -c "import pytest, spacy, typer" 2>/dev/null; then
  timeout 240 $PY -m pytest -q -m gpu -p no:cacheprovider tests/ >"$WORK/tests.log" 2>&1
  code=$?
  tail -3 "$WORK/tests.log"
  $PY - "$WORK/tests.log" "$code" >"$TESTS_JSON" <<'PYEOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
print(json.dumps({"exit_code": int(sys.argv[2]), "summary": lines[-1] if lines else "", "failures": [l for l in lines if l.startswith("FAILED") or l.startswith("ERROR")]}))
PYEOF
else
  echo '{"skipped": "pytest, spacy or typer missing (tier 2 wheels not carried)"}' >"$TESTS_JSON"
  echo "[gpu_check] gpu-marked tests skipped: pytest, spacy or typer missing"
fi

left=$(( 450 - ($(date +%s) - start) ))
[ "$left" -lt 60 ] && left=60
timeout $(( left + 30 )) $PY bench/gpu_check.py --out "$OUT_JSON" --tests "$TESTS_JSON" --budget "$left" --work "$WORK" "${CPU_FLAG[@]}"
echo "[gpu_check] $(( $(date +%s) - start )) s in all; JSON: $OUT_JSON"
