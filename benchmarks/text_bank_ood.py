"""Does the text bank hurt text search where its captions do not reach? (issue 13, out of domain)

The shipped bank holds H&M and Mango product captions. The phone photos (``clothing``) and the
garments cut from photos of people (``street-garments``) have no titles, so this builds attribute
queries from their validation labels: every distinct ``<colour> <type>`` (street garments) or
``<type>`` (with ``<sleeve length> sleeve <type>`` where labelled; clothing), worded as the
attribute phrases are ("black skirt", "long sleeve shirt"). A photo is relevant when its labels
match every word's field. Gallery: the split's photos. Metrics: precision at 10 and average
precision over the top 50 (many photos are relevant to each query), direct vectors against the
bank's (query side), and the bank's with its item side (each photo's caption vector matched against
the direct query, over the 200 nearest candidates as the searcher; no attribute re-ranking), same
embedder (shipped vestis-lite).

    VESTIS_DATA=../shared/data OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/text_bank_ood.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vestis.data import open_dataset
from vestis.embed import load_embedder
from vestis.train.text_bank_trainer import within_candidates

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = 200


def queries(examples, dataset: str) -> dict[str, set[int]]:
    """Query text → indices of the relevant examples (at least two)."""
    asked: dict[str, tuple[tuple[str, ...], tuple]] = {}
    for ex in examples:
        kind = (ex.labels.get("type") or "").replace("_", " ")
        if not kind:
            continue
        if dataset == "street-garments" and ex.labels.get("colour"):
            asked[f"{ex.labels['colour']} {kind}"] = (
                ("colour", "type"),
                (ex.labels["colour"], ex.labels["type"]),
            )
        if dataset == "clothing":
            asked[kind] = (("type",), (ex.labels["type"],))
            if ex.labels.get("sleeve_length"):
                key = (ex.labels["sleeve_length"], ex.labels["type"])
                asked[f"{ex.labels['sleeve_length']} sleeve {kind}"] = (("sleeve_length", "type"), key)
    out = {}
    for text, (fields, key) in asked.items():
        rel = {j for j, ex in enumerate(examples) if tuple(ex.labels.get(f) for f in fields) == key}
        if len(rel) >= 2:
            out[text] = rel
    return out


def scores(
    vectors: np.ndarray, gallery: np.ndarray, relevant: list[set[int]], bonus=None
) -> dict[str, float]:
    sim = vectors @ gallery.T
    if bonus is not None:  # as the searcher: its 200 nearest candidates, re-ranked with the bonus
        sim = within_candidates(sim, CANDIDATES) + bonus
    order = np.argsort(-sim, axis=1, kind="stable")[:, :50]
    p10, ap = [], []
    for ranked, rel in zip(order, relevant, strict=True):
        hits = np.array([j in rel for j in ranked], dtype=float)
        p10.append(hits[:10].mean())
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        ap.append(float((precision * hits).sum() / min(len(rel), 50)))
    return {"P@10": float(np.mean(p10)), "AP@50": float(np.mean(ap))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="street-garments,clothing")
    p.add_argument("--results", default=str(REPO / "benchmarks/results/text_bank_ood.json"))
    args = p.parse_args()
    embedder = load_embedder("lite", threads=1)
    bank = embedder.text_bank
    if bank is None:
        raise SystemExit("the shipped vestis-lite has no text bank to measure")
    settings = ("k", "tau", "weight", "item_k", "item_tau", "item_weight")
    results = {"bank": {key: getattr(bank, key) for key in settings}, "datasets": {}}
    for name in args.datasets.split(","):
        val = open_dataset(name).split("val")
        gallery, ok = embedder.embed_many([ex.image for ex in val], description=f"{name} validation")
        keep = np.flatnonzero(ok)
        val = [val[i] for i in keep]
        gallery = gallery[keep]
        qs = queries(val, name)
        texts = sorted(qs)
        direct = embedder.embed_texts(texts)
        rel = [qs[t] for t in texts]
        row = {
            "queries": len(texts),
            "gallery": len(val),
            "direct": scores(direct, gallery, rel),
            "bank": scores(bank.expand(direct), gallery, rel),
            "bank+items": scores(bank.expand(direct), gallery, rel, bank.item_scores(direct, gallery)),
        }
        results["datasets"][name] = row
        print(
            f"{name}: {len(texts)} queries, {len(val)} photos; direct P@10 {row['direct']['P@10']:.3f} "
            f"AP@50 {row['direct']['AP@50']:.3f}; bank P@10 {row['bank']['P@10']:.3f} "
            f"AP@50 {row['bank']['AP@50']:.3f}; with the item side P@10 {row['bank+items']['P@10']:.3f} "
            f"AP@50 {row['bank+items']['AP@50']:.3f}"
        )
    Path(args.results).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
