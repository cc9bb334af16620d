#!/usr/bin/env bash
# The main job on the embedded default model (called by `make demo`):
# a catalog of photos in → attributes, search by text / photo / photo + modification out.
# With the development data present it also audits the label mapping and benchmarks extraction.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/demo}
DATA=${VESTIS_DATA:-../shared/data}
vestis() { "$PY" -m vestis.cli "$@"; }
mkdir -p "$OUT"
CATALOG="$OUT/example-catalog"

echo "== 1. ingest the CC0 example catalog (attributes + embeddings + thumbnails, idempotent)"
vestis ingest examples/catalog --catalog "$CATALOG"
vestis catalog stats --catalog "$CATALOG"

echo "== 2. search it by text, with a filter, by photo, and by photo + modification"
vestis search --catalog "$CATALOG" "black shoes" --k 5
vestis search --catalog "$CATALOG" "summer dress" --where "category = dress" --k 3
QUERY=$(ls examples/catalog/*.jpg | head -n 1)
vestis search --catalog "$CATALOG" --image "$QUERY" --k 3
vestis search --catalog "$CATALOG" --image "$QUERY" --modify "in black" --k 3

echo "== 3. attributes of single photos as schema-valid JSON"
vestis extract "$QUERY" --confidence
vestis extract "$QUERY" --schema denali

if [ -f "$DATA/hm/items.csv" ]; then
  export VESTIS_DATA="$DATA"
  echo "== 4. label-mapping audit and an extraction benchmark on the development data"
  vestis data audit -d hm --out "$OUT/audit-hm" || true   # exit 1 only flags mapping problems to look at
  vestis eval extract --dataset hm --backend lite --out "$OUT/eval-hm-lite" --limit "${LIMIT:-400}"
  echo "reports: $OUT/eval-hm-lite/report.html, $OUT/audit-hm/audit.md"
else
  echo "development data not found at $DATA: skipped the audit and the benchmark (set DATA=...)"
fi
echo "== next: the web page and HTTP API over the catalog (Ctrl-C stops it)"
echo "   $PY -m vestis.cli serve --catalog $CATALOG --read-only    # then open http://127.0.0.1:8000/"
