"""Benchmark hygiene: leaks across splits and likely label noise.

* **leaks**: validation images with a near-duplicate in the training split (same photo,
  resized, recompressed or re-shot): such pairs inflate every validation number;
* **duplicates within a split**;
* **label noise**: examples whose label the model contradicts with high confidence, the
  usual sign of a wrong label (or of a model blind spot: a person decides which), checked on
  the closed fields of the schema's ``listing`` role (its main attributes);
* **ambiguous queries** (structural biases of the text→image benchmark, after ZooClaw-FashionSigLIP2):
  title or description queries of the retrieval evaluator whose text, case and whitespace
  normalised, is the same for different products (groups), so the ground truth names one product
  the query cannot tell from another;
* **duplicate images under different ids**: near-duplicate validation photos filed under
  different products; every query of those products has a ground truth that looks like a wrong
  answer.

``flagged`` lists, per text task, the example ids of both kinds: give it to the retrieval
evaluator (``exclude=``, ``vestis eval retrieve --exclude``) for metrics with and without them.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from vestis.catalog.dedup import DEFAULT_THRESHOLD, neighbour_pairs
from vestis.data import Dataset
from vestis.eval.base import EVALUATORS, Evaluator, Metrics, flatten
from vestis.eval.report import thumbnail
from vestis.eval.retrieve import text_queries

EXAMPLES_SHOWN = 20


@EVALUATORS.register("hygiene")
class HygieneEvaluator(Evaluator):
    """Benchmark hygiene: near-duplicate leaks from train into the split, duplicates, likely label noise.

    Called on an :class:`~vestis.embed.Embedder` (which judges near-duplicates); label noise needs
    an ``extractor`` (else its metrics are None). ``split`` is the split checked against ``train``;
    ``limit`` applies to both. Keys: ``hygiene/leak_rate`` (primary), ``hygiene/noise_rate``,
    ``hygiene/val_near_duplicate_pairs``, ``hygiene/noise_by_field/<field>``, ...
    """

    name = "hygiene"
    primary = "leak_rate"

    def __init__(
        self,
        dataset: Dataset | str,
        split: str = "val",
        limit: int | None = None,
        out_dir: str | os.PathLike | None = None,
        name: str | None = None,
        schema: Any = None,
        extractor: Any = None,
        threshold: float = DEFAULT_THRESHOLD,
        noise_confidence: float = 0.9,
    ) -> None:
        super().__init__(dataset, split, limit, out_dir, name, schema)
        self.extractor = extractor
        self.threshold = threshold
        self.noise_confidence = noise_confidence
        self._shown: tuple[list, list, list] = ([], [], [])

    def evaluate(self, target: Any) -> dict[str, Any]:
        embedder = target
        train, val = self.dataset.split("train")[: self.limit], self.examples()
        tv, tok = embedder.embed_many([e.image for e in train], description="embedding train")
        vv, vok = embedder.embed_many([e.image for e in val], description=f"embedding {self.split}")
        leaks = [
            (val[i], train[j], s)
            for i, j, s in neighbour_pairs(tv, self.threshold, k=5, queries=vv)
            if vok[i] and tok[j] and val[i].id != train[j].id
        ]
        within = [
            (val[i], val[j], s) for i, j, s in neighbour_pairs(vv, self.threshold, k=5) if vok[i] and vok[j]
        ]
        noise = self._noise(val) if self.extractor is not None else None
        product = [e.group or e.id for e in val]
        cross = [(a, b, s) for a, b, s in within if (a.group or a.id) != (b.group or b.id)]
        dup_products = {a.group or a.id for a, _, _ in cross} | {b.group or b.id for _, b, _ in cross}
        dup_ids = {e.id for e, p in zip(val, product, strict=True) if p in dup_products}
        texts = text_queries(val)
        ambiguous = {task: ambiguous_queries(queries, product) for task, queries in texts.items()}
        self._shown = (leaks[:40], (noise or [])[:60], cross[:EXAMPLES_SHOWN])
        leaked = len({p[0].id for p in leaks})
        return {
            "dataset": self.dataset.name,
            "split": self.split,
            "threshold": self.threshold,
            "train": len(train),
            "val": len(val),
            "val_with_train_near_duplicate": leaked,
            "leak_rate": leaked / max(1, len(val)),
            "val_near_duplicate_pairs": len(within),
            "likely_label_noise": None if noise is None else len(noise),
            "noise_rate": None if noise is None else len(noise) / max(1, len(val)),
            "noise_by_field": {
                f: None if noise is None else sum(r[1] == f for r in noise) for f in self._noise_fields()
            },
            "leaks": [{"val": a.id, "train": b.id, "similarity": round(s, 4)} for a, b, s in leaks[:500]],
            "noise": [
                {"id": ex.id, "field": f, "label": g, "model": p, "confidence": round(c, 3)}
                for ex, f, g, p, c in (noise or [])[:500]
            ],
            "duplicates_across_products": {
                "pairs": len(cross),
                "products": len(dup_products),
                "examples": len(dup_ids),
                "shown": [
                    {"a": a.id, "b": b.id, "similarity": round(s, 4)} for a, b, s in cross[:EXAMPLES_SHOWN]
                ],
            },
            "ambiguous": {
                task: {
                    "queries": sum(len(m) for m in groups.values()),
                    "of": len(texts[task]),
                    "texts": len(groups),
                    "products": len({product[i] for m in groups.values() for i in m}),
                    "shown": [
                        {"text": text, "ids": [val[i].id for i in m][:6]}
                        for text, m in list(groups.items())[:EXAMPLES_SHOWN]
                    ],
                }
                for task, groups in ambiguous.items()
            },
            "flagged": {
                task: sorted({val[i].id for m in groups.values() for i in m} | dup_ids)
                for task, groups in ambiguous.items()
            },
        }

    def flat_metrics(self, result: dict[str, Any]) -> Metrics:
        return flatten(result, skip=("threshold",))

    def write_outputs(self, result: dict[str, Any], out: Path) -> None:
        _write_html(result, *self._shown, out / "report.html")

    def _noise_fields(self) -> list[str]:
        """The closed fields of the extractor schema's listing role (none without an extractor)."""
        if self.extractor is None:
            return []
        schema = self.extractor.schema
        return [name for name in schema.roles.listing if schema.fields[name].closed]

    def _noise(self, val: list) -> list[tuple]:
        """(example, field, label, model's value, confidence) where the model confidently disagrees."""
        noise = []
        results = self.extractor.extract([e.image for e in val])
        for ex, res in zip(val, results, strict=True):
            for name in self._noise_fields():
                gold, pred = ex.labels.get(name), res.attributes.get(name)
                conf = res.confidence.get(name, 0.0)
                if gold and pred and gold != pred and conf >= self.noise_confidence:
                    noise.append((ex, name, gold, pred, conf))
        noise.sort(key=lambda r: -r[4])
        return noise


def ambiguous_queries(queries: Sequence[tuple[int, str]], product: Sequence[str]) -> dict[str, list[int]]:
    """Query texts shared by different products: normalised text → the example indices asking it.

    Texts match after lower-casing and collapsing whitespace; a text asked only by one product
    (colour variants of one product share a title) is not ambiguous. Largest groups first.
    """
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, text in queries:
        by_text[re.sub(r"\s+", " ", text).strip().lower()].append(i)
    shared = {t: m for t, m in by_text.items() if len({product[i] for i in m}) > 1}
    return dict(sorted(shared.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _img(path: str) -> str:
    src = thumbnail(path)
    return f'<img src="data:image/jpeg;base64,{src}">' if src else "?"


def _pair_rows(pairs) -> str:
    """Table rows of near-duplicate pairs: both thumbnails, the similarity and the two ids."""
    return "".join(
        f"<tr><td>{_img(a.image)}</td><td>{_img(b.image)}</td><td>{s:.3f}<br>{escape(a.id)} ↔ "
        f"{escape(b.id)}</td></tr>"
        for a, b, s in pairs
    )


def _write_html(report: dict[str, Any], leaks, noise, cross, path: Path) -> None:
    leak_rows = _pair_rows(leaks)
    noise_rows = "".join(
        f"<tr><td>{_img(ex.image)}</td><td>{escape(f)}</td><td>{escape(g)}</td><td>{escape(p)}</td>"
        f"<td>{c:.2f}</td></tr>"
        for ex, f, g, p, c in noise
    )
    cross_rows = _pair_rows(cross)
    ambiguous = "".join(
        f"<h3>{escape(task)}: {a['queries']} of {a['of']} queries, {a['texts']} texts shared by "
        f"{a['products']} products</h3><ul>"
        + "".join(f"<li>{escape(r['text'])}: {escape(', '.join(r['ids']))}</li>" for r in a["shown"])
        + "</ul>"
        for task, a in report["ambiguous"].items()
    )
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>vestis hygiene</title><style>
body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}}
td{{padding:4px 8px;border-bottom:1px solid #ddd}}
img{{height:96px}}</style></head><body><h1>Benchmark hygiene: {escape(report["dataset"])}</h1>
<p>{report["val_with_train_near_duplicate"]} of {report["val"]} validation images
({100 * report["leak_rate"]:.1f}%) have a near-duplicate in the training split
(cosine ≥ {report["threshold"]});
{report["val_near_duplicate_pairs"]} near-duplicate pairs inside the validation split;
{_noise_line(report)}</p>
<h2>Leaks (validation ↔ training)</h2><table>{leak_rows}</table>
<h2>Near-duplicate photos under different products (validation)</h2><table>{cross_rows}</table>
<h2>Ambiguous queries (one text, several products)</h2>{ambiguous}
<h2>Likely label noise</h2>
<table><tr><th></th><th>field</th><th>label</th><th>model</th><th>confidence</th></tr>
{noise_rows}</table></body></html>"""
    path.write_text(html)


def _noise_line(report: dict[str, Any]) -> str:
    if report["likely_label_noise"] is None:
        return "label noise not checked (no extractor)."
    return f"{report['likely_label_noise']} likely label errors ({100 * report['noise_rate']:.1f}%)."
