"""Outfits from a photo of a person: its garments are the outfit to score or complete."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from vestis.catalog.ingest import ingest
from vestis.cli.main import main
from vestis.outfits import create_scorer
from vestis.outfits.complete import complete_outfit, photo_outfit, score_outfit


def garment_ids(catalog, category: str) -> set[int]:
    return {it.id for it in catalog.store.get(catalog.store.ids()) if it.garment_class == category}


def test_a_photo_is_the_outfit_of_its_garments(shop):
    catalog, query = shop
    outfit = photo_outfit(catalog, str(query))
    assert [(it.id.garment, it.id.box, it.category) for it in outfit] == [
        (0, (20, 30, 80, 100), "top"),
        (1, (30, 100, 70, 190), "bottom"),
    ]
    assert str(outfit[0].id) == f"{query}#0" and outfit[0].embedding.shape == (32,)
    result = score_outfit(catalog, outfit, create_scorer("cooccurrence"))
    assert np.isfinite(result.score) and result.ids == [it.id for it in outfit]
    assert result.to_dict()["ids"] == [f"{query}#0", f"{query}#1"]
    shoes = min(garment_ids(catalog, "footwear"))
    mixed = score_outfit(catalog, [*outfit, shoes], create_scorer("cooccurrence"))  # with a catalog item
    assert mixed.ids[2] == shoes and len(mixed.item_fit) == 3


def test_completing_a_photo_proposes_what_it_lacks(shop):
    catalog, query = shop
    looks = complete_outfit(catalog, photo_outfit(catalog, str(query)), create_scorer("cooccurrence"), k=5)
    assert "footwear" in looks and not {"top", "bottom", "dress"} & set(looks)
    assert {s.id for s in looks["footwear"]} == garment_ids(catalog, "footwear")
    assert all(s.box is not None and s.to_dict()["garment"] == 2 for s in looks["footwear"])


def test_a_photo_in_the_catalog_is_not_offered_its_own_garments(shop):
    catalog, query = shop
    ingest(catalog, str(query.parent), progress=False)  # the photo itself, ingested
    outfit = photo_outfit(catalog, str(query))
    assert {it.id.photo_hash for it in outfit} == {hashlib.sha256(query.read_bytes()).hexdigest()}
    own = set(catalog.store.photo_ids(outfit[0].id.photo_hash))
    assert len(own) == 2
    looks = complete_outfit(catalog, outfit, create_scorer("cooccurrence"), slots=["top"])
    assert looks["top"] and {s.id for s in looks["top"]} == garment_ids(catalog, "top") - own


def test_the_cli_scores_and_completes_a_photo(shop, capsys, monkeypatch):
    from vestis.cli.common import console

    monkeypatch.setattr(console, "width", 200)  # tables wide enough not to fold the paths
    catalog, query = shop
    base = ["--catalog", str(catalog.directory), "--scorer", "cooccurrence"]
    assert main(["outfits", "score", str(query), *base, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["ids"] == [f"{query}#0", f"{query}#1"] and np.isfinite(scored["score"])
    assert main(["outfits", "score", str(query), *base]) == 0
    out = capsys.readouterr().out
    assert f"outfit from {query}: 0 top (20,30,80,100), 1 bottom (30,100,70,190)" in out
    assert "weakest pair" in out
    assert main(["outfits", "complete", str(query), *base, "--slots", "shoes", "--json"]) == 0
    [slot] = json.loads(capsys.readouterr().out).values()
    shoes = slot["suggestions"]
    assert {s["id"] for s in shoes} == garment_ids(catalog, "footwear")
    assert all(s["box"] == [30, 190, 70, 200] for s in shoes)
    assert main(["outfits", "complete", str(query), *base, "--slots", "shoes"]) == 0
    assert "[30,190,70,200]" in capsys.readouterr().out
    assert main(["outfits", "score", str(query.parent / "nope.png"), "1", *base]) == 2
    assert "neither a catalog item id nor a photo" in capsys.readouterr().err
