"""The retrieval task: text→image, image→image and composed retrieval on a dataset split.

The gallery is every image of the split. Queries:

* **title → image**: an item's title (H&M ``prod_name``) must find that item. Colour variants
  share a title, so two relevance levels are reported: ``exact`` (that very item) and
  ``product`` (any item of the same group);
* **description → image**: the same with the free-text description;
* **image → image**: a photo must find the other colour variants of its product;
* **composed**: a variant's photo + "in <colour of the other variant>" must find that variant
  (the reference itself is excluded from the gallery).

Metrics per task: R@1/5/10/50, MRR and nDCG@10 (binary relevance).
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vestis.data import Dataset, Example
from vestis.data.text import TITLE_KEYS, modification

log = logging.getLogger(__name__)
KS = (1, 5, 10, 50)


def ranking_metrics(
    scores: np.ndarray, relevant: list[set[int]], exclude: list[int | None] | None = None
) -> dict[str, float]:
    """R@k, MRR and nDCG@10 for a [queries, gallery] score matrix and each query's relevant set."""
    scores = scores.copy()
    if exclude is not None:
        for q, e in enumerate(exclude):
            if e is not None:
                scores[q, e] = -np.inf
    order = np.argsort(-scores, axis=1)
    out = {f"R@{k}": 0.0 for k in KS} | {"MRR": 0.0, "nDCG@10": 0.0}
    n = 0
    for q, rel in enumerate(relevant):
        if not rel:
            continue
        n += 1
        ranks = np.flatnonzero(np.isin(order[q], list(rel)))
        first = int(ranks[0]) if len(ranks) else len(order[q])
        for k in KS:
            out[f"R@{k}"] += first < k
        out["MRR"] += 1.0 / (first + 1)
        dcg = sum(1.0 / math.log2(r + 2) for r in ranks if r < 10)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), 10)))
        out["nDCG@10"] += dcg / ideal
    return {k: v / n for k, v in out.items()} | {"queries": n} if n else {"queries": 0}


def _title(ex: Example) -> str | None:
    for key in TITLE_KEYS:
        value = ex.meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def run_retrieve_eval(
    dataset: Dataset,
    extractor,
    embedder,
    out_dir: str | Path,
    split: str = "val",
    limit: int | None = None,
    hybrid_weight: float = 0.1,
) -> dict[str, Any]:
    """Embed the split, score every task, write ``metrics.json`` and ``report.html``; return the metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = dataset.split(split)[:limit]
    gallery, ok, attributes = _embed_and_extract(extractor, embedder, [ex.image for ex in examples])
    groups: dict[str, set[int]] = defaultdict(set)
    for i, ex in enumerate(examples):
        groups[ex.group or ex.id].add(i)
    group_of = [ex.group or ex.id for ex in examples]
    result: dict[str, Any] = {"dataset": dataset.name, "split": split, "gallery": int(ok.sum()), "tasks": {}}
    examples_for_report: dict[str, list] = {}

    def text_task(name: str, texts: list[tuple[int, str]]):
        if not texts:
            return
        q = embedder.embed_texts([t for _, t in texts])
        scores = q @ gallery.T
        result["tasks"][f"{name} (exact)"] = ranking_metrics(scores, [{i} for i, _ in texts])
        result["tasks"][f"{name} (product)"] = ranking_metrics(
            scores, [groups[group_of[i]] for i, _ in texts]
        )
        hybrid = scores + hybrid_bonus([t for _, t in texts], attributes, extractor.schema, hybrid_weight)
        result["tasks"][f"{name}, hybrid (exact)"] = ranking_metrics(hybrid, [{i} for i, _ in texts])
        result["tasks"][f"{name}, hybrid (product)"] = ranking_metrics(
            hybrid, [groups[group_of[i]] for i, _ in texts]
        )
        examples_for_report[name] = [
            (t, np.argsort(-scores[j])[:5].tolist(), i) for j, (i, t) in enumerate(texts[:6])
        ]

    text_task("title → image", [(i, t) for i, ex in enumerate(examples) if ok[i] and (t := _title(ex))])
    descriptions = [
        (i, ex.text) for i, ex in enumerate(examples) if ok[i] and ex.text and ex.text != _title(ex)
    ]
    text_task("description → image", descriptions)

    variant_queries = [i for i in range(len(examples)) if ok[i] and len(groups[group_of[i]]) > 1]
    if variant_queries:
        scores = gallery[variant_queries] @ gallery.T
        rel = [groups[group_of[i]] - {i} for i in variant_queries]
        result["tasks"]["image → image (colour variants)"] = ranking_metrics(
            scores, rel, exclude=variant_queries
        )
    triplets = [
        (a, text, b)
        for a in variant_queries
        for b in groups[group_of[a]]
        if b != a
        and ok[b]
        and (text := modification(examples[a].labels, examples[b].labels, extractor.schema))
    ]
    if triplets:
        texts = sorted({t for _, t, _ in triplets})
        temb = dict(zip(texts, embedder.embed_texts(texts), strict=True))
        ref = gallery[[a for a, _, _ in triplets]]
        mod = np.stack([temb[t] for _, t, _ in triplets])
        queries = {
            "image + text (sum)": _normalise(ref + mod),
            "embedder": np.stack([embedder.compose(r, m) for r, m in zip(ref, mod, strict=True)]),
        }
        for mode, q in queries.items():
            result["tasks"][f"composed, {mode}"] = ranking_metrics(
                q @ gallery.T, [{b} for _, _, b in triplets], exclude=[a for a, _, _ in triplets]
            )
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    from vestis.eval.retrieve_report import write_retrieve_report

    write_retrieve_report(result, examples, examples_for_report, out / "report.html")
    return result


def _embed_and_extract(extractor, embedder, paths: list[str], batch: int = 64):
    """Embeddings, ok mask and extracted attributes of the gallery (one forward pass per image)."""
    from vestis.extract.embed import extract_and_embed
    from vestis.images import ImageLoadError, load_image
    from vestis.progress import progress_bar

    dim = embedder.dim
    vectors = np.zeros((len(paths), dim), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    attributes: list[dict[str, Any]] = [{} for _ in paths]
    with progress_bar() as bar:
        task = bar.add_task("gallery", total=len(paths))
        for start in range(0, len(paths), batch):
            images = {}
            for j, path in enumerate(paths[start : start + batch]):
                try:
                    images[start + j] = load_image(path)
                except ImageLoadError as exc:
                    log.warning("gallery image skipped: %s", exc)
            results, vecs = extract_and_embed(extractor, embedder, list(images.values()))
            for i, res, vec in zip(images, results, vecs, strict=True):
                vectors[i], ok[i], attributes[i] = vec, True, res.attributes
            bar.advance(task, min(batch, len(paths) - start))
    return vectors, ok, attributes


def hybrid_bonus(queries: list[str], attributes: list[dict[str, Any]], schema, weight: float) -> np.ndarray:
    """[queries, gallery] bonus: weight × share of the attributes a query names that an item has."""
    from vestis.search.query import agreement, attribute_mentions

    bonus = np.zeros((len(queries), len(attributes)), dtype=np.float32)
    for q, text in enumerate(queries):
        mentions = attribute_mentions(text, schema)
        if mentions:
            bonus[q] = [weight * agreement(a, mentions) for a in attributes]
    return bonus


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)
