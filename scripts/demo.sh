#!/usr/bin/env bash
# The main job on the embedded default model (called by `make demo`).
# With the development data: audit the label mapping, score vestis-lite against the baselines
# on the validation split, extract attributes of a few photos. Without it: the CC0 fixtures.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/demo}
DATA=${VESTIS_DATA:-../shared/data}
vestis() { "$PY" -m vestis.cli "$@"; }
mkdir -p "$OUT"

echo "== extracting attributes of the CC0 example photos (vestis-lite, schema vestis)"
vestis extract tests/fixtures/cc0 --out "$OUT/cc0-attributes.jsonl" --confidence
head -n 3 "$OUT/cc0-attributes.jsonl"

if [ -f "$DATA/hm/items.csv" ]; then
  export VESTIS_DATA="$DATA"
  echo "== label-mapping audit of H&M onto the vestis schema"
  vestis data audit hm --out "$OUT/audit-hm" || true   # exit 1 only flags mapping problems
  for backend in lite pixel-colour majority; do
    echo "== vestis eval extract: $backend on the H&M validation split (first ${LIMIT:-400} items)"
    vestis eval extract --dataset hm --backend "$backend" --out "$OUT/eval-hm-$backend" --limit "${LIMIT:-400}"
  done
  echo "reports: $OUT/eval-hm-*/report.html, $OUT/audit-hm/audit.md"
else
  echo "development data not found at $DATA: skipped the audit and the benchmark (set DATA=...)"
fi
