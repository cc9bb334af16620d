"""A catalog built with a user schema whose fields are renamed (kind_of_garment, shade, print):
search filters and hybrid mentions, outfits and CLI listings follow the schema's roles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import draw_item
from tests.schema.test_roles import WARDROBE
from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.catalog.ingest import ingest
from vestis.catalog.records import ItemRecord
from vestis.cli.main import main
from vestis.outfits import create_scorer
from vestis.outfits.complete import complete_outfit, missing_slots, resolve_slot, score_outfit
from vestis.schema import SchemaError, load_schema
from vestis.search.query import attribute_mentions
from vestis.search.searcher import Searcher

ITEMS = [  # kind_of_garment, cut, shade, print, label
    ("top", "tee", "red", "plain", "acme"),
    ("top", None, "navy", "striped", None),
    ("bottom", "jeans", "navy", "plain", None),
    ("bottom", None, "black", "plain", None),
    ("dress", None, "red", "floral", "acme"),
    ("dress", None, "white", "plain", None),
    ("shoes", "sneaker", "white", "plain", None),
    ("shoes", None, "red", "plain", None),
]


@pytest.fixture(scope="module")
def wardrobe(tmp_path_factory):
    """A catalog of the wardrobe schema; items added with their labels (as an import of a labelled shop)."""
    directory = tmp_path_factory.mktemp("wardrobe")
    config = CatalogConfig(schema=str(WARDROBE), extractor="majority", embedder="test-random", index="exact")
    catalog = Catalog.create(directory, config)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ITEMS), catalog.embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        ItemRecord(
            content_hash=f"item-{n}",
            source="test",
            path=f"/shop/{kind}-{shade}-{n}.jpg",
            attributes={
                "kind_of_garment": kind,
                "cut": cut,
                "shade": shade,
                "print": pattern,
                "label": label,
            },
            embedding=vectors[n],
        )
        for n, (kind, cut, shade, pattern, label) in enumerate(ITEMS)
    ]
    catalog.add_items(records)
    catalog.save_index()
    catalog.close()
    return directory


def ids_of(catalog: Catalog, **attributes) -> list[int]:
    items = catalog.store.get(catalog.store.ids())
    return sorted(it.id for it in items if all(it.attributes.get(k) == v for k, v in attributes.items()))


def test_mentions_follow_the_mentionable_and_plurals_roles():
    s = load_schema(WARDROBE)
    assert attribute_mentions("red dress", s) == {"shade": {"red"}, "kind_of_garment": {"dress"}}
    assert attribute_mentions("navy blue striped trousers", s) == {
        "shade": {"navy"},
        "print": {"striped"},
        "kind_of_garment": {"bottom"},
    }
    assert attribute_mentions("white trainers", s) == {"shade": {"white"}, "cut": {"sneaker"}}  # a plural
    assert attribute_mentions("red dress", s, fields=("shade",)) == {"shade": {"red"}}
    vestis = load_schema("vestis")  # its roles keep what it did before roles existed
    assert attribute_mentions("black leather jackets", vestis) == {
        "colour": {"black"},
        "material": {"leather"},
        "type": {"jacket"},
    }
    assert "sleeve_length" not in attribute_mentions("denim shorts", vestis)  # no plurals outside its role


def test_search_filters_and_hybrid_ranking_on_renamed_fields(wardrobe):
    catalog = Catalog.open(wardrobe)
    searcher = Searcher(catalog, hybrid_weight=10.0)  # mentions dominate the random embeddings
    hits = searcher.search(text="garment", where="shade = red", k=10)
    assert sorted(h.id for h in hits) == ids_of(catalog, shade="red")
    hits = searcher.search(text="garment", where="kind_of_garment = shoes AND print = plain", k=10)
    assert sorted(h.id for h in hits) == ids_of(catalog, kind_of_garment="shoes")
    top = searcher.search(text="red dress", k=3)
    assert top[0].id == ids_of(catalog, kind_of_garment="dress", shade="red")[0] and top[0].agreement == 1.0
    assert searcher.search(text="red dress", k=3, hybrid=False)[0].agreement == 0.0
    catalog.close()


def test_outfits_use_the_category_role(wardrobe):
    catalog = Catalog.open(wardrobe)
    scorer = create_scorer("cooccurrence")
    schema = catalog.schema
    kind = schema.by_role("category")
    assert resolve_slot(schema, "footwear") == ("kind_of_garment", "shoes")
    assert resolve_slot(schema, "trainer") == ("cut", "sneaker")
    with pytest.raises(ValueError, match=r"give a kind_of_garment \(top, bottom, dress, shoes\) or a cut"):
        resolve_slot(schema, "spaceship")
    # vestis's main slots spelled in this vocabulary: no outerwear, bag or accessory here
    assert missing_slots(["top"], kind) == ["bottom", "shoes"]
    assert missing_slots(["dress"], kind) == ["shoes"]
    top, bottom = ids_of(catalog, kind_of_garment="top")[0], ids_of(catalog, kind_of_garment="bottom")[0]
    result = score_outfit(catalog, [top, bottom], scorer)
    assert np.isfinite(result.score) and set(result.weakest_pair[:2]) == {top, bottom}
    assert scorer.means  # centred on the category-role values of the catalog's items
    looks = complete_outfit(catalog, [top, bottom], scorer, k=2)
    assert list(looks) == ["shoes"]
    assert {s.id for s in looks["shoes"]} == set(ids_of(catalog, kind_of_garment="shoes"))
    assert all(s.attributes["kind_of_garment"] == "shoes" for s in looks["shoes"])
    red = complete_outfit(catalog, [top], scorer, slots=["gown"], where="shade = red")
    assert [s.id for s in red["dress"]] == ids_of(catalog, kind_of_garment="dress", shade="red")
    catalog.close()


def test_completing_an_outfit_without_a_category_role_says_so(tmp_path):
    path = tmp_path / "flat.yaml"
    path.write_text("name: flat\nfields:\n  shade: {values: [red, navy]}\n")
    catalog = Catalog.create(
        tmp_path / "c", CatalogConfig(schema=str(path), extractor="majority", embedder="test-random")
    )
    with pytest.raises(
        SchemaError, match=r"schema 'flat' declares no 'category' role.*roles: \{category: FIELD\}"
    ):
        complete_outfit(catalog, [1, 2], create_scorer("cooccurrence"))
    catalog.close()


def test_cli_listings_show_the_listing_role(wardrobe, capsys):
    capsys.readouterr()
    assert main(["search", "red dress", "--catalog", str(wardrobe), "--k", "3"]) == 0
    header = capsys.readouterr().out
    for column in ("kind_of_garment", "shade", "print", "label"):
        assert column in header
    assert "category" not in header and "colour" not in header
    top = ids_of(Catalog.open(wardrobe), kind_of_garment="top")[0]
    assert (
        main(["outfits", "complement", str(top), "--catalog", str(wardrobe), "--scorer", "cooccurrence"]) == 0
    )
    listing = capsys.readouterr().out
    assert "kind_of_garment" in listing and "shade" in listing and "goes with" in listing
    assert main(["catalog", "stats", "--catalog", str(wardrobe), "--json"]) == 0
    facets = json.loads(capsys.readouterr().out)["facets"]
    assert list(facets) == ["kind_of_garment", "shade", "print"]  # the closed fields of the listing
    assert dict(facets["shade"])["red"] == 3
    assert main(["schema", "export", str(WARDROBE), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["roles"]["category"] == "kind_of_garment"


def test_ingest_fills_the_renamed_colour_field(tmp_path):
    """The pixel-colour extractor finds the colour field by its role, whatever it is called."""
    folder = tmp_path / "shop"
    for colour in ("red", "navy", "yellow"):
        draw_item(folder / f"{colour}.jpg", colour, "top")
    config = CatalogConfig(
        schema=str(WARDROBE), extractor="pixel-colour", embedder="test-random", index="exact"
    )
    catalog = Catalog.create(tmp_path / "catalog", config)
    assert ingest(catalog, str(folder), progress=False).added == 3
    hits = Searcher(catalog).search(text="top", where="shade = red", k=5)
    assert [h.path.rsplit("/", 1)[-1] for h in hits] == ["red.jpg"]
    catalog.close()
