"""The hygiene evaluator finds a planted leak (and checks labels only when given an extractor)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import draw_item
from vestis.data import Dataset, Example, split_of
from vestis.embed import load_embedder
from vestis.eval.hygiene import HygieneEvaluator


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
    from vestis.extract.base import create_extractor
    from vestis.schema import load_schema

    ex = create_extractor("lite", load_schema("vestis"), model=str(tiny_lite))
    emb = load_embedder("lite", model=str(tiny_lite))
    evaluator = HygieneEvaluator(
        Leaky(tmp_path / "imgs"), out_dir=tmp_path / "out", extractor=ex, threshold=0.999
    )
    metrics = evaluator(emb)
    report = evaluator.result
    assert {"val": "a-copy", "train": "a", "similarity": pytest.approx(1.0, abs=1e-3)} in report["leaks"]
    assert report["val_with_train_near_duplicate"] >= 1
    assert metrics["hygiene/leak_rate"] == report["leak_rate"] > 0
    assert metrics["hygiene/noise_rate"] is not None
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["leaks"] == report["leaks"]
    assert (tmp_path / "out" / "report.html").is_file()


def test_hygiene_without_an_extractor_leaves_noise_unmeasured(tmp_path):
    evaluator = HygieneEvaluator(Leaky(tmp_path / "imgs"), threshold=0.999)
    metrics = evaluator(load_embedder("test-random"))
    assert metrics["hygiene/leak_rate"] > 0 and metrics["hygiene/noise_rate"] is None
