"""Ambiguous queries and duplicate photos under different products; retrieval metrics without them."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers import draw_item
from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.data import Dataset, Example
from vestis.embed import load_embedder
from vestis.eval.hygiene import HygieneEvaluator, ambiguous_queries
from vestis.eval.retrieve import RetrieveEvaluator
from vestis.search.searcher import Searcher

CONFIG = CatalogConfig(schema="vestis", extractor="pixel-colour", embedder="test-random", index="exact")


class Biased(Dataset):
    """Five products: "tee" and "tee2" share a title (up to case and spaces), "shoe" and "shoe2" a photo."""

    kind = "biased"

    def _load(self):
        shoe = draw_item(self.root / "shoe.png", "black", "footwear")
        Image.open(shoe).save(self.root / "shoe-again.bmp")  # the same pixels, other bytes, other id
        items = [
            ("tee", draw_item(self.root / "tee.png", "red", "top"), "Basic  tee"),
            ("tee2", draw_item(self.root / "tee2.png", "navy", "top", size=80), "basic tee "),
            ("shoe", shoe, "Leather shoe"),
            ("shoe2", self.root / "shoe-again.bmp", "Derby"),
            ("pants", draw_item(self.root / "pants.png", "yellow", "bottom"), "Wide trousers"),
        ]
        return [Example(i, str(p), {}, {"title": t}, None, group=i) for i, p, t in items]


def test_shared_title_and_shared_photo_are_both_flagged(tmp_path):
    evaluator = HygieneEvaluator(Biased(tmp_path), split="all", threshold=0.999, out_dir=tmp_path / "out")
    metrics = evaluator(load_embedder("test-random"))
    r = evaluator.result
    assert r["ambiguous"]["title"]["queries"] == 2 and r["ambiguous"]["title"]["products"] == 2
    assert r["ambiguous"]["title"]["shown"][0]["ids"] == ["tee", "tee2"]
    assert r["ambiguous"]["description"]["queries"] == 0
    dup = r["duplicates_across_products"]
    assert dup["pairs"] == 1 and dup["examples"] == 2
    assert {dup["shown"][0]["a"], dup["shown"][0]["b"]} == {"shoe", "shoe2"}
    assert r["flagged"]["title"] == ["shoe", "shoe2", "tee", "tee2"]
    assert metrics["hygiene/ambiguous/title/queries"] == 2
    assert "Ambiguous queries" in (tmp_path / "out" / "report.html").read_text()


def test_colour_variants_of_one_product_are_not_ambiguous():
    queries = [(0, "Tee"), (1, "tee"), (2, "Tee"), (3, "Shoe")]
    assert ambiguous_queries(queries, ["p", "p", "q", "r"]) == {"tee": [0, 1, 2]}
    assert ambiguous_queries(queries, ["p", "p", "p", "r"]) == {}


def _rank(searcher, ex, hybrid):
    ids = [h.meta["id"] for h in searcher.search(text=ex.meta["title"], k=50, hybrid=hybrid)]
    return ids.index(ex.id) if ex.id in ids else float("inf")


def test_clean_metrics_leave_out_the_excluded_queries(variants, tmp_path):
    examples = variants.examples()
    hygiene = HygieneEvaluator(variants, split="all", threshold=0.999)
    hygiene(load_embedder("test-random"))
    # every title ("red t shirt") is shared by four products; no description is
    ambiguous = hygiene.result["ambiguous"]
    assert ambiguous["title"]["queries"] == 24 and ambiguous["title"]["texts"] == 6
    assert ambiguous["description"]["queries"] == 0

    searcher_dir = tmp_path / "out"
    RetrieveEvaluator(variants, split="all", out_dir=searcher_dir, progress=False)(CONFIG)
    searcher = Searcher(Catalog.open(searcher_dir / "catalog"))
    ranks = {ex.id: _rank(searcher, ex, True) for ex in examples}
    found = {i for i, r in ranks.items() if r < 1}
    assert found and len(found) < 24  # a case where dropping queries must move the number

    # drop the queries found first: the clean R@1 is 0, the all-query R@10 is unchanged
    evaluator = RetrieveEvaluator(
        variants, split="all", catalog_dir=searcher_dir / "catalog", progress=False, exclude={"title": found}
    )
    metrics = evaluator(CONFIG)
    assert metrics["retrieve/title/hybrid/exact/R@1"] == pytest.approx(len(found) / 24)
    assert metrics["retrieve/title-clean/hybrid/exact/queries"] == 24 - len(found)
    assert metrics["retrieve/title-clean/hybrid/exact/R@1"] == 0.0
    kept = [r for i, r in ranks.items() if i not in found]
    assert metrics["retrieve/title-clean/hybrid/exact/MRR@50"] == pytest.approx(
        sum(1 / (r + 1) for r in kept if r < 50) / len(kept)
    )
    assert "retrieve/description-clean/hybrid/exact/R@10" not in metrics  # nothing excluded there


def test_exclude_that_is_not_a_hygiene_run_is_a_one_line_error(tmp_path, capsys):
    from vestis.cli.main import main

    bad = tmp_path / "metrics.json"
    bad.write_text("{}")
    argv = ["eval", "retrieve", "--dataset", "hm", "--out", str(tmp_path / "o"), "--exclude", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "not the metrics.json of a `vestis eval hygiene` run" in err
