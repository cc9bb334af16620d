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


def test_a_bank_round_trips_through_int8_files_and_refuses_another_space(tmp_path):
    rng = np.random.default_rng(0)
    original = TextBank(
        rng.standard_normal((50, 16)), rng.standard_normal((50, 16)), "space-a", k=5, report={"x": 1}
    )
    loaded = TextBank.load(original.save(tmp_path / "bank"))
    assert (loaded.k, loaded.tau, loaded.weight, loaded.model_id, loaded.report) == (
        5,
        0.05,
        0.5,
        "space-a",
        {"x": 1},
    )
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


def test_the_searcher_sends_text_queries_through_the_bank_and_modifications_around_it(tmp_path):
    from tests.helpers import people_config, people_shop
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.ingest import ingest
    from vestis.search.searcher import Query, Searcher

    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(people_shop(tmp_path / "shop")), progress=False)
    embedder = catalog.embedder
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
