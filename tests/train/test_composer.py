from __future__ import annotations

import json
import random

import torch

from tests.helpers import draw_item
from vestis.data import Dataset, Example
from vestis.embed import load_embedder
from vestis.schema import load_schema


class Variants(Dataset):
    """Products (a type) each photographed in three colours: group = product."""

    kind = "variants"

    def _load(self):
        out = []
        for p in range(8):
            category, type_ = [("top", "t_shirt"), ("bottom", "trousers")][p % 2]
            for colour in ("red", "navy", "yellow"):
                path = draw_item(self.root / f"p{p}-{colour}.jpg", colour, category, size=64 + 4 * p)
                labels = {"category": category, "type": type_, "colour": colour, "pattern": "solid"}
                out.append(Example(f"p{p}-{colour}", str(path), labels, group=f"p{p}"))
        return out


def test_mine_triplets_variants_and_edits():
    from vestis.train.composer_trainer import mine_triplets

    schema = load_schema("vestis")
    exs = [
        Example(f"{g}{c}", "x.jpg", {"type": "t_shirt", "colour": c}, group=g)
        for g in "ab"
        for c in ("red", "navy")
    ]
    trips = mine_triplets(exs, schema, max_edits=10, rng=random.Random(0))
    variants = [t for t in trips if t[3] == "variant"]
    assert len(variants) == 4  # two products × two ordered pairs
    assert all(exs[a].group != exs[b].group for a, _, b, k in trips if k == "edit")


def test_composer_trains_saves_and_reports_baselines(tmp_path, tiny_lite):
    from vestis.models.composer import Composer
    from vestis.train.composer_trainer import ComposerTrainConfig, train_composer

    ds = Variants(tmp_path / "imgs")
    cfg = ComposerTrainConfig(
        epochs=15, batch_size=16, max_edits=50, val_fraction=0.3, out_dir=str(tmp_path / "run")
    )
    path = train_composer(cfg, datasets=[ds], embedder=load_embedder("lite", model=str(tiny_lite)))
    report = json.loads((tmp_path / "run" / "composer_report.json").read_text())
    losses = [h["loss"] for h in report["history"]]
    assert losses[-1] < losses[0]
    assert report["train_triplets"] > 0
    for modes in report["val"].values():
        assert set(modes) == {"composer", "image", "text", "sum"}
    a, b = Composer.load(path), Composer.load(path)
    x, t = (
        torch.nn.functional.normalize(torch.randn(2, 256), dim=-1),
        torch.nn.functional.normalize(torch.randn(2, 256), dim=-1),
    )
    assert torch.equal(a(x, t), b(x, t))
