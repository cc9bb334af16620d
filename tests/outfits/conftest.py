"""Synthetic outfits: items of a few styles; a real outfit takes one item per category from one style."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.outfits import ItemFeatures
from vestis.outfits.data import OutfitData

CATS = ("top", "bottom", "footwear", "bag")
TINY = {
    "type-aware": {"hidden": 16, "dim": 8},
    "set-transformer": {"d_model": 16, "heads": 2, "layers": 1, "ff": 32},
    "llm": {"model": "test-tiny"},  # a tiny random language model, built in memory
}


def synthetic_outfits(n_outfits: int = 150, dim: int = 16, styles: int = 6, per_cell: int = 6, seed: int = 0):
    """OutfitData whose compatible items share a style direction; items are reused across outfits."""
    rng = np.random.default_rng(seed)
    style = rng.normal(size=(styles, dim))
    offset = {c: rng.normal(size=dim) for c in CATS}
    ids, emb, cats, cells = [], [], [], {}
    for s in range(styles):
        for c in CATS:
            for k in range(per_cell):
                v = 1.5 * style[s] + offset[c] + 0.5 * rng.normal(size=dim)
                cells.setdefault((s, c), []).append(len(ids))
                ids.append(f"s{s}-{c}-{k}")
                emb.append(v / np.linalg.norm(v))
                cats.append(c)
    outfits = {}
    for n in range(n_outfits):
        s = int(rng.integers(styles))
        chosen = [c for c in CATS if c in ("top", "bottom") or rng.random() < 0.7]
        outfits[f"o{n}"] = [int(rng.choice(cells[(s, c)])) for c in chosen]
    return OutfitData(ids, np.array(emb, dtype=np.float32), cats, outfits)


@pytest.fixture
def outfit_data() -> OutfitData:
    return synthetic_outfits()


def random_items(n: int, dim: int = 256, seed: int = 0) -> list[ItemFeatures]:
    rng = np.random.default_rng(seed)
    cats = [*CATS, None, "no-such-category"]
    out = []
    for i in range(n):
        v = rng.normal(size=dim).astype(np.float32)
        out.append(ItemFeatures(v / np.linalg.norm(v), cats[i % len(cats)], {}, i))
    return out


@pytest.fixture
def shop(tmp_path):
    """The people shop (tops, bottoms and shoes) in a catalog, and a photo of a person in a red top
    and navy bottom, no shoes."""
    from tests.helpers import COLOURS, people_config, people_shop
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.ingest import ingest
    from vestis.parse.backends.test_figure import figure

    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(people_shop(tmp_path / "shop")), progress=False)
    query = tmp_path / "me" / "me.png"
    query.parent.mkdir()
    figure(COLOURS["red"], COLOURS["navy"]).save(query)
    return catalog, query
