"""Benchmark hygiene: leaks across splits and likely label noise.

* **leaks**: validation images with a near-duplicate in the training split (same photo,
  resized, recompressed or re-shot): such pairs inflate every validation number;
* **duplicates within a split**;
* **label noise**: examples whose label the model contradicts with high confidence, the
  usual sign of a wrong label (or of a model blind spot: a person decides which), checked on
  the closed fields of the schema's ``listing`` role (its main attributes).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from vestis.catalog.dedup import DEFAULT_THRESHOLD, neighbour_pairs
from vestis.data import Dataset
from vestis.eval.report import thumbnail


def run_hygiene(
    dataset: Dataset,
    extractor,
    embedder,
    out_dir: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    noise_confidence: float = 0.9,
    limit: int | None = None,
) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, val = dataset.split("train")[:limit], dataset.split("val")[:limit]
    tv, tok = embedder.embed_many([e.image for e in train], description="embedding train")
    vv, vok = embedder.embed_many([e.image for e in val], description="embedding val")
    leaks = [
        (val[i], train[j], s)
        for i, j, s in neighbour_pairs(tv, threshold, k=5, queries=vv)
        if vok[i] and tok[j]
    ]
    within = [(val[i], val[j], s) for i, j, s in neighbour_pairs(vv, threshold, k=5) if vok[i] and vok[j]]
    schema = extractor.schema
    noise_fields = [name for name in schema.roles.listing if schema.fields[name].closed]
    noise = []
    results = extractor.extract([e.image for e in val])
    for ex, res in zip(val, results, strict=True):
        for name in noise_fields:
            gold, pred = ex.labels.get(name), res.attributes.get(name)
            conf = res.confidence.get(name, 0.0)
            if gold and pred and gold != pred and conf >= noise_confidence:
                noise.append((ex, name, gold, pred, conf))
    noise.sort(key=lambda r: -r[4])
    report = {
        "dataset": dataset.name,
        "threshold": threshold,
        "train": len(train),
        "val": len(val),
        "val_with_train_near_duplicate": len({p[0].id for p in leaks}),
        "leak_rate": len({p[0].id for p in leaks}) / max(1, len(val)),
        "val_near_duplicate_pairs": len(within),
        "likely_label_noise": len(noise),
        "noise_rate": len(noise) / max(1, len(val)),
        "noise_by_field": {f: sum(r[1] == f for r in noise) for f in noise_fields},
        "leaks": [{"val": a.id, "train": b.id, "similarity": round(s, 4)} for a, b, s in leaks[:500]],
        "noise": [
            {"id": ex.id, "field": f, "label": g, "model": p, "confidence": round(c, 3)}
            for ex, f, g, p, c in noise[:500]
        ],
    }
    (out / "hygiene.json").write_text(json.dumps(report, indent=1))
    _write_html(report, leaks[:40], noise[:60], out / "report.html")
    return report


def _img(path: str) -> str:
    src = thumbnail(path)
    return f'<img src="data:image/jpeg;base64,{src}">' if src else "?"


def _write_html(report: dict[str, Any], leaks, noise, path: Path) -> None:
    leak_rows = "".join(
        f"<tr><td>{_img(a.image)}</td><td>{_img(b.image)}</td><td>{s:.3f}<br>{escape(a.id)} ↔ "
        f"{escape(b.id)}</td></tr>"
        for a, b, s in leaks
    )
    noise_rows = "".join(
        f"<tr><td>{_img(ex.image)}</td><td>{escape(f)}</td><td>{escape(g)}</td><td>{escape(p)}</td>"
        f"<td>{c:.2f}</td></tr>"
        for ex, f, g, p, c in noise
    )
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>vestis hygiene</title><style>
body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}}
td{{padding:4px 8px;border-bottom:1px solid #ddd}}
img{{height:96px}}</style></head><body><h1>Benchmark hygiene: {escape(report["dataset"])}</h1>
<p>{report["val_with_train_near_duplicate"]} of {report["val"]} validation images
({100 * report["leak_rate"]:.1f}%) have a near-duplicate in the training split
(cosine ≥ {report["threshold"]});
{report["val_near_duplicate_pairs"]} near-duplicate pairs inside the validation split;
{report["likely_label_noise"]} likely label errors ({100 * report["noise_rate"]:.1f}%).</p>
<h2>Leaks (validation ↔ training)</h2><table>{leak_rows}</table>
<h2>Likely label noise</h2>
<table><tr><th></th><th>field</th><th>label</th><th>model</th><th>confidence</th></tr>
{noise_rows}</table></body></html>"""
    path.write_text(html)
