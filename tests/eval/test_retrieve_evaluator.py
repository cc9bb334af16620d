"""The retrieval evaluator's numbers are the Searcher's: recomputed here by calling the Searcher directly."""

from __future__ import annotations

import json
import math

import pytest

from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.data.text import modification
from vestis.errors import UserError
from vestis.eval.retrieve import RetrieveEvaluator, ranking_metrics
from vestis.search.searcher import Query, Searcher

CONFIG = CatalogConfig(schema="vestis", extractor="pixel-colour", embedder="test-random", index="exact")


def test_ranking_metrics_hand_computed():
    m = ranking_metrics([["a", "b", "c"], ["c", "b", "a"]], [{"b"}, {"c"}])
    assert m["R@1"] == 0.5 and m["R@5"] == 1.0 and m["queries"] == 2
    assert m["MRR@50"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    missing = ranking_metrics([["a"], ["b"]], [{"z"}, set()])  # not found; no relevant item (left out)
    assert missing["queries"] == 1 and missing["R@50"] == 0.0 and missing["MRR@50"] == 0.0


def _rank(hits, wanted: set[str]) -> float:
    ids = [h.meta["id"] for h in hits]
    return next((r for r, i in enumerate(ids) if i in wanted), float("inf"))


def test_numbers_equal_what_the_searcher_returns(variants, tmp_path):
    out = tmp_path / "out"
    evaluator = RetrieveEvaluator(variants, split="all", out_dir=out, progress=False)
    metrics = evaluator(CONFIG)

    assert (
        evaluator.primary_metric == "retrieve/title/hybrid/product/R@10"
        and evaluator.primary_metric in metrics
    )
    assert metrics["retrieve/gallery"] == len(variants) == 24
    for task in ("title", "description"):
        for ranking in ("hybrid", "embedding"):
            for relevance in ("exact", "product"):
                assert metrics[f"retrieve/{task}/{ranking}/{relevance}/queries"] == 24
    assert metrics["retrieve/image/embedding/variants/queries"] == 24
    assert metrics["retrieve/composed/embedding/target/queries"] == 48

    searcher = Searcher(Catalog.open(out / "catalog"))
    examples = variants.examples()
    group = {ex.id: {o.id for o in examples if o.group == ex.group} for ex in examples}
    for hybrid, ranking in ((True, "hybrid"), (False, "embedding")):
        ranks = [
            _rank(searcher.search(text=ex.meta["title"], k=50, hybrid=hybrid), {ex.id}) for ex in examples
        ]
        assert metrics[f"retrieve/title/{ranking}/exact/R@1"] == pytest.approx(sum(r < 1 for r in ranks) / 24)
        assert metrics[f"retrieve/title/{ranking}/exact/R@10"] == pytest.approx(
            sum(r < 10 for r in ranks) / 24
        )
        assert metrics[f"retrieve/title/{ranking}/exact/MRR@50"] == pytest.approx(
            sum(1 / (r + 1) for r in ranks) / 24
        )
    ranks = []
    for ex in examples:  # a photo finds itself first: its own item is left out, as the evaluator does
        hits = [h for h in searcher.search(image=ex.image, k=51) if h.meta["id"] != ex.id]
        ranks.append(_rank(hits, group[ex.id] - {ex.id}))
    assert metrics["retrieve/image/embedding/variants/R@1"] == pytest.approx(sum(r < 1 for r in ranks) / 24)
    assert metrics["retrieve/image/embedding/variants/MRR@50"] == pytest.approx(
        sum(1 / (r + 1) for r in ranks) / 24
    )
    ranks = []
    for a in examples:
        for b in examples:
            if b.group == a.group and b.id != a.id:
                text = modification(a.labels, b.labels, searcher.catalog.schema)
                hits = [h for h in searcher.search(image=a.image, modify=text, k=51) if h.meta["id"] != a.id]
                ranks.append(_rank(hits, {b.id}))
    assert len(ranks) == 48
    assert metrics["retrieve/composed/embedding/target/R@5"] == pytest.approx(sum(r < 5 for r in ranks) / 48)

    document = json.loads((out / "metrics.json").read_text())
    assert document["metrics"] == metrics and document["searcher"]["candidates"] == 200
    assert "<table>" in (out / "report.html").read_text()

    again = RetrieveEvaluator(variants, split="all", out_dir=out, progress=False)(
        CONFIG
    )  # the catalog is reused
    assert again == metrics
    assert searcher.catalog.store.ingest_runs()[-1].added == 0


def test_search_many_is_search_per_query(variants, tmp_path):
    RetrieveEvaluator(variants, split="all", out_dir=tmp_path / "out", progress=False)(CONFIG)
    searcher = Searcher(Catalog.open(tmp_path / "out" / "catalog"), candidates=5)
    ex = variants.examples()
    queries = [
        Query(text="red t shirt"),
        Query(image=ex[0].image),
        Query(image=ex[1].image, modify="in navy"),
    ]
    many = searcher.search_many(queries, k=7)
    one = [searcher.search(q.text, q.image, q.modify, k=7) for q in queries]
    assert [[h.id for h in hits] for hits in many] == [[h.id for h in hits] for hits in one]
    assert [[round(h.score, 5) for h in hits] for hits in many] == [
        [round(h.score, 5) for h in hits] for hits in one
    ]


def test_a_catalog_with_other_items_is_refused(variants, tmp_path):
    RetrieveEvaluator(variants, split="all", catalog_dir=tmp_path / "cat", progress=False)(CONFIG)
    with pytest.raises(UserError, match="not in this gallery"):
        RetrieveEvaluator(variants, split="all", limit=3, catalog_dir=tmp_path / "cat", progress=False)(
            CONFIG
        )
    catalog = Catalog.open(tmp_path / "cat")  # a Searcher over that catalog is evaluated as it is
    metrics = RetrieveEvaluator(variants, split="all", progress=False)(Searcher(catalog, hybrid_weight=0.0))
    assert metrics["retrieve/title/hybrid/exact/R@10"] == metrics["retrieve/title/embedding/exact/R@10"]


def test_lite_catalog_with_its_composer(variants, tmp_path, tiny_lite):
    config = CatalogConfig(
        schema="vestis",
        extractor="lite",
        extractor_options={"model": str(tiny_lite)},
        embedder="lite",
        embedder_options={"model": str(tiny_lite)},
        index="exact",
    )
    metrics = RetrieveEvaluator(variants, split="all", out_dir=tmp_path / "out", progress=False)(config)
    for key, value in metrics.items():
        if key.endswith("R@10"):
            assert 0 <= value <= metrics[key.replace("R@10", "R@50")] <= 1
    assert metrics["retrieve/composed/embedding/target/queries"] == 48
