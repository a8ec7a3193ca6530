#!/usr/bin/env bash
# The layout change (issue 11) must not change training: the same seeded run before (commit 8c7ddd7,
# checked out at /tmp/old: `git worktree add /tmp/old 8c7ddd7`) and after it, on the classic file.
#   bash bench/layout_check.sh
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$root/.venv/bin/python}
C=${CORPUS:-$root/../shared/corpora/seinfeld_scripts.txt}
for side in old new; do
  src=/tmp/old; [ $side = new ] && src=$root
  emb="--no-embeddings"; [ $side = new ] && emb="--embeddings none"
  [ -f /tmp/ab/$side/vocab.json ] || (cd $src && PYTHONPATH=$src $PY -m textgen build-vocab --corpus $C --run-dir /tmp/ab/$side >/dev/null)
  start=$(date +%s.%N)
  (cd $src && OMP_NUM_THREADS=1 PYTHONPATH=$src $PY -m textgen train --run-dir /tmp/ab/$side --max-steps 120 --eval-every 60 --threads 1 $emb > /tmp/ab/$side.log 2>&1)
  end=$(date +%s.%N)
  echo "$side $(echo "$end - $start" | bc) s"; grep '"kind": "val"' /tmp/ab/$side/metrics.jsonl | python3 -c "import sys,json; [print(r['step'], repr(r['val_bpb'])) for r in map(json.loads, sys.stdin)]"
  python3 -c "import json; rs=[json.loads(l) for l in open('/tmp/ab/$side/metrics.jsonl') if '\"train\"' in l]; print('tok/s', [round(r['tokens_per_s']) for r in rs][-3:])"
done
cmp /tmp/ab/old/train_ids.npy /tmp/ab/new/train_ids.npy && echo "ids identical"
