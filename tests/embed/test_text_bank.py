"""The text bank: a query's nearest captions carry it to their photos' prototypes (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.embed import load_embedder
from vestis.embed.text_bank import TextBank
from vestis.errors import OptionsError


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def bank(model_id: str = "space-a", **changes) -> TextBank:
    """Captions along axes 0 and 1; their photos along axes 2 and 3 (text and photos unaligned)."""
    text = unit([[1, 0, 0, 0], [0, 1, 0, 0]])
    image = unit([[0, 0, 1, 0], [0, 0, 0, 1]])
    return TextBank(text, image, model_id, **({"k": 1, "tau": 0.05, "weight": 1.0} | changes))


def test_a_query_is_carried_to_the_photos_of_its_nearest_caption():
    q = unit([[0.9, 0.1, 0, 0]])
    np.testing.assert_allclose(bank().pivot(q), [[0, 0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(bank().expand(q), unit(q + np.array([[0, 0, 1, 0]])), atol=1e-6)
    np.testing.assert_allclose(bank().expand(q, weight=0), q)
    # k = 2: both captions, the nearer weighs more (softmax of similarity / tau)
    both = bank(k=2, tau=1.0).pivot(q)
    sim = q[0, :2]  # the similarities to the two captions
    w = np.exp(sim) / np.exp(sim).sum()
    np.testing.assert_allclose(both, unit([[0, 0, w[0], w[1]]]), atol=1e-6)


def test_a_photo_is_captioned_by_its_nearest_prototypes_and_matched_with_the_direct_query():
    b = bank(item_k=1, item_weight=0.5)
    photo = np.array([[0, 0, 1.6, 0.4]])  # nearest prototype (by cosine): the first caption's photos
    np.testing.assert_allclose(b.captions(photo), [[1, 0, 0, 0]], atol=1e-6)
    q = unit([[0.6, 0.8, 0, 0]])
    np.testing.assert_allclose(b.item_scores(q, photo), [[0.5 * 0.6]], atol=1e-6)
    assert not b.item_scores(q, photo, weight=0).any() and not bank().item_scores(q, photo).any()  # off
    assert b.item_scores(q, np.zeros((0, 4))).shape == (1, 0)
    # k = 2: both captions, weighted by a softmax of the photo's cosine to each prototype / tau
    sim = unit(photo)[0, 2:]
    w = np.exp(sim) / np.exp(sim).sum()
    np.testing.assert_allclose(
        bank(item_k=2, item_tau=1.0).captions(photo), unit([[w[0], w[1], 0, 0]]), atol=1e-6
    )
    # many photos go in blocks: the same answer as one by one
    rng = np.random.default_rng(3)
    big = TextBank(rng.standard_normal((30, 8)), rng.standard_normal((30, 8)), "s", item_k=4)
    photos = rng.standard_normal((1100, 8))
    np.testing.assert_allclose(
        big.captions(photos)[[0, 600, 1099]], big.captions(photos[[0, 600, 1099]]), atol=1e-6
    )
    with pytest.raises(OptionsError, match="k ≥ 1"):
        bank(item_k=0)


def test_a_bank_round_trips_through_int8_files_and_refuses_another_space(tmp_path):
    import json

    rng = np.random.default_rng(0)
    original = TextBank(
        rng.standard_normal((50, 16)),
        rng.standard_normal((50, 16)),
        "space-a",
        k=5,
        report={"x": 1},
        item_k=7,
        item_tau=0.02,
        item_weight=0.25,
    )
    loaded = TextBank.load(original.save(tmp_path / "bank"))
    assert (loaded.k, loaded.tau, loaded.weight, loaded.model_id, loaded.report) == (
        5,
        0.05,
        0.5,
        "space-a",
        {"x": 1},
    )
    assert (loaded.item_k, loaded.item_tau, loaded.item_weight) == (7, 0.02, 0.25)
    config = json.loads((tmp_path / "bank" / "bank.json").read_text())
    for key in ("item_k", "item_tau", "item_weight"):  # a bank written before the item side
        del config[key]
    (tmp_path / "bank" / "bank.json").write_text(json.dumps(config))
    assert TextBank.load(tmp_path / "bank").item_weight == 0
    np.testing.assert_allclose(loaded.text, original.text, atol=0.01)
    np.testing.assert_allclose(loaded.image, original.image, atol=0.03)
    q = unit(rng.standard_normal((8, 16)))
    assert np.abs(loaded.expand(q) - original.expand(q)).max() < 0.05
    loaded.check_space("space-a")
    with pytest.raises(OptionsError, match="vector space of space-a, not space-b"):
        loaded.check_space("space-b")
    with pytest.raises(OptionsError, match="is not a text bank"):
        TextBank.load(tmp_path)
    with pytest.raises(OptionsError, match="one shape"):
        TextBank(np.ones((3, 4)), np.ones((3, 5)), "space-a")
    with pytest.raises(OptionsError, match="query vectors of shape"):
        loaded.expand(np.ones((2, 3)))


def test_search_queries_use_the_bank_other_texts_do_not():
    e = load_embedder("test-random", dim=4)
    with pytest.raises(OptionsError, match="vector space"):
        e.use_text_bank(bank())  # built in another space
    e.use_text_bank(bank(e.model_id))
    direct = e.embed_texts(["red top"])
    queried = e.embed_queries(["red top"])
    assert not np.allclose(direct, queried)
    np.testing.assert_allclose(queried, e.text_bank.expand(direct))
    e.use_text_bank(None)
    np.testing.assert_allclose(e.embed_queries(["red top"]), direct)


def shop_catalog(tmp_path):
    """A small catalog of drawn garments (test-random embedder) and its embedder."""
    from tests.helpers import people_config, people_shop
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.ingest import ingest

    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(people_shop(tmp_path / "shop")), progress=False)
    return catalog, catalog.embedder


def test_the_searcher_sends_text_queries_through_the_bank_and_modifications_around_it(tmp_path):
    from vestis.search.searcher import Query, Searcher

    catalog, embedder = shop_catalog(tmp_path)
    rng = np.random.default_rng(1)
    text, image = unit(rng.standard_normal((6, embedder.dim))), unit(rng.standard_normal((6, embedder.dim)))
    embedder.use_text_bank(TextBank(text, image, embedder.model_id, k=2))
    searcher = Searcher(catalog)
    [q, composed] = searcher.query_vectors([Query(text="red top"), Query(item=1, modify="in navy")])
    np.testing.assert_allclose(q, embedder.embed_queries(["red top"])[0], atol=1e-6)
    assert not np.allclose(q, embedder.embed_texts(["red top"])[0], atol=1e-3)
    item = searcher.query_vectors([Query(item=1)])[0]
    np.testing.assert_allclose(
        composed, embedder.compose(item, embedder.embed_texts(["in navy"])[0]), atol=1e-6
    )


def test_the_searcher_adds_the_item_side_to_text_queries_it_reranks(tmp_path):
    from vestis.search.searcher import Query, Searcher

    catalog, embedder = shop_catalog(tmp_path)
    rng = np.random.default_rng(4)
    text, image = unit(rng.standard_normal((6, embedder.dim))), unit(rng.standard_normal((6, embedder.dim)))
    searcher = Searcher(catalog)
    embedder.use_text_bank(TextBank(text, image, embedder.model_id, k=2, item_k=2, item_weight=0.0))
    before = searcher.search(text="red top", k=50)
    embedder.use_text_bank(TextBank(text, image, embedder.model_id, k=2, item_k=2, item_weight=2.0))
    after = searcher.search(text="red top", k=50)
    assert {h.id for h in after} == {h.id for h in before} and len(after) > 2
    vectors = {it.id: it.embedding for it in catalog.store.get([h.id for h in after])}
    direct = embedder.embed_texts(["red top"])
    for hit in after:
        bonus = embedder.text_bank.item_scores(direct, vectors[hit.id][None])[0, 0]
        assert bonus != 0
        assert hit.score == pytest.approx(
            hit.similarity + searcher.hybrid_weight * hit.agreement + bonus, abs=1e-5
        )
    assert [h.id for h in after] != [h.id for h in before]  # a weight of 2 reorders random vectors
    assert len(searcher._caption_cache) == len(after)  # remembered per item ...
    again = searcher.search(text="red top", k=50)
    assert [(h.id, h.score) for h in again] == [(h.id, h.score) for h in after]
    other = TextBank(text[::-1].copy(), image, embedder.model_id, k=2, item_k=2, item_weight=2.0)
    embedder.use_text_bank(other)  # ... for that bank only
    for hit in searcher.search(text="red top", k=50):
        bonus = other.item_scores(direct, vectors[hit.id][None])[0, 0]
        assert hit.score == pytest.approx(
            hit.similarity + searcher.hybrid_weight * hit.agreement + bonus, abs=1e-5
        )
    plain = searcher.search(text="red top", k=50, hybrid=False)  # the embedding ranking: no re-ranking
    assert all(h.score == h.similarity for h in plain)
    [photo] = searcher.search_many([Query(item=after[0].id)], k=5)  # photo queries: untouched
    assert all(h.score == h.similarity for h in photo)


def test_lite_uses_its_own_bank_only_when_its_report_says_it_helps(tmp_path, tiny_lite):
    import shutil

    pytest.importorskip("efficientnet_lite_pytorch")
    model = shutil.copytree(tiny_lite, tmp_path / "lite")
    plain = load_embedder("lite", model=str(model), runtime="torch")
    assert plain.text_bank is None
    rng = np.random.default_rng(2)
    dim = plain.dim

    def write(report, model_id=plain.model_id, where=model / "text_bank"):
        shutil.rmtree(where, ignore_errors=True)
        TextBank(rng.standard_normal((9, dim)), rng.standard_normal((9, dim)), model_id, report=report).save(
            where
        )

    write({"beats_direct": True})
    e = load_embedder("lite", model=str(model), runtime="torch")
    assert e.text_bank is not None and e.model_id == plain.model_id  # image vectors: the same space
    assert not np.allclose(e.embed_queries(["red top"]), e.embed_texts(["red top"]))
    assert load_embedder("lite", model=str(model), runtime="torch", text_bank=False).text_bank is None
    write({"beats_direct": False})
    assert load_embedder("lite", model=str(model), runtime="torch").text_bank is None
    write({"beats_direct": True}, model_id="vestis-lite@another")
    assert load_embedder("lite", model=str(model), runtime="torch").text_bank is None  # warned, not used
    write({"beats_direct": False}, where=tmp_path / "mine")
    named = load_embedder("lite", model=str(model), runtime="torch", text_bank=str(tmp_path / "mine"))
    assert named.text_bank is not None  # named by the user: used whatever its report says
