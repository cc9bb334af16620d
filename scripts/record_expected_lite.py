"""Record the shipped model's outputs on the CC0 fixtures (run once after shipping new weights).

.venv/bin/python scripts/record_expected_lite.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image

from vestis.embed import load_embedder
from vestis.extract.base import create_extractor
from vestis.schema import load_schema

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cc0"

with open(FIXTURES / "labels.csv") as fh:
    paths = [FIXTURES / r["image"] for r in csv.DictReader(fh)]
extractor = create_extractor("lite", load_schema("vestis"))
results = extractor.extract([str(p) for p in paths])
emb = load_embedder("lite").embed_images([Image.open(p).convert("RGB") for p in paths])
record = {
    p.name: {
        "category": r.attributes["category"],
        "colour": r.attributes["colour"],
        "embedding16": [round(float(x), 5) for x in e[:16]],
    }
    for p, r, e in zip(paths, results, emb, strict=True)
}
(FIXTURES / "expected_lite.json").write_text(json.dumps(record, indent=1) + "\n")
print(json.dumps({k: (v["category"], v["colour"]) for k, v in record.items()}, indent=1))
