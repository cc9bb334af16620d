from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.helpers import draw_item
from tests.train.test_composer import Variants
from vestis.data import Dataset, Example, split_of
from vestis.embed import load_embedder


def test_ranking_metrics_hand_computed():
    from vestis.eval.retrieve_task import ranking_metrics

    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.9]])
    m = ranking_metrics(scores, [{1}, {2}])
    assert m["R@1"] == 0.5 and m["R@5"] == 1.0
    assert m["MRR"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["nDCG@10"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    excluded = ranking_metrics(scores, [{1}, {2}], exclude=[0, None])  # query 0's reference removed
    assert excluded["R@1"] == 1.0


class TitledVariants(Variants):
    def _load(self):
        out = super()._load()
        for ex in out:
            ex.meta["title"] = f"{ex.labels['colour']} {ex.labels['type'].replace('_', ' ')}"
        return out


def test_retrieve_task_writes_metrics_and_report(tmp_path, tiny_lite):
    from vestis.eval.retrieve_task import run_retrieve_eval
    from vestis.extract.base import create_extractor
    from vestis.schema import load_schema

    ds = TitledVariants(tmp_path / "imgs")
    ex = create_extractor("lite", load_schema("vestis"), model=str(tiny_lite))
    result = run_retrieve_eval(
        ds, ex, load_embedder("lite", model=str(tiny_lite)), tmp_path / "out", split="all"
    )
    tasks = result["tasks"]
    assert "image → image (colour variants)" in tasks and "composed, image + text (sum)" in tasks
    assert {
        "title → image (exact)",
        "title → image, hybrid (exact)",
        "title → image, hybrid (product)",
    } <= set(tasks)
    for metrics in tasks.values():
        assert 0 <= metrics["R@1"] <= metrics["R@10"] <= 1
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["gallery"] == len(ds)
    assert "<table>" in (tmp_path / "out" / "report.html").read_text()


class Leaky(Dataset):
    kind = "leaky"

    def _load(self):
        groups = [f"g{i}" for i in range(200)]
        train_group = next(g for g in groups if split_of(g) == "train")
        val_group = next(g for g in groups if split_of(g) == "val")
        others = [g for g in groups if g not in (train_group, val_group)][:8]
        a = draw_item(self.root / "a.jpg", "red", "top")
        shutil.copy(a, self.root / "a-copy.jpg")
        out = [
            Example("a", str(a), {"category": "top", "colour": "red"}, group=train_group),
            Example(
                "a-copy", str(self.root / "a-copy.jpg"), {"category": "top", "colour": "red"}, group=val_group
            ),
        ]
        for i, g in enumerate(others):
            colour, cat = [("navy", "bottom"), ("yellow", "footwear"), ("green", "top"), ("black", "bottom")][
                i % 4
            ]
            path = draw_item(self.root / f"{g}.jpg", colour, cat, size=70 + 5 * i)
            out.append(Example(g, str(path), {"category": cat, "colour": colour}, group=g))
        return out


def test_hygiene_finds_the_planted_leak(tmp_path, tiny_lite):
    from vestis.eval.hygiene import run_hygiene
    from vestis.extract.base import create_extractor
    from vestis.schema import load_schema

    ex = create_extractor("lite", load_schema("vestis"), model=str(tiny_lite))
    emb = load_embedder("lite", model=str(tiny_lite))
    report = run_hygiene(Leaky(tmp_path / "imgs"), ex, emb, tmp_path / "out", threshold=0.999)
    assert {"val": "a-copy", "train": "a", "similarity": pytest.approx(1.0, abs=1e-3)} in report["leaks"]
    assert report["val_with_train_near_duplicate"] >= 1
    assert (tmp_path / "out" / "report.html").is_file()
