"""Every registered outfit scorer honours the contract (adding a scorer adds its tests)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.outfits.conftest import TINY, random_items
from vestis.outfits import OutfitScorer, create_scorer, list_scorers, load_scorer


def make(name: str, **options) -> OutfitScorer:
    return create_scorer(name, **{**TINY.get(name, {}), **options})


def test_builtin_scorers_are_registered():
    assert {"cooccurrence", "type-aware", "set-transformer"} <= set(list_scorers())


@pytest.mark.parametrize("name", list_scorers())
@pytest.mark.parametrize("dim", [256, 12])
def test_score_contract(name, dim):
    scorer = make(name, **({"embed_dim": dim} if scorer_is_learned(name) else {}))
    items = random_items(7, dim=dim)
    outfits = [items[:4], items[2:7], items[:2], items[5:6]]  # any size, unknown and missing categories
    scorer.adapt(items)
    scores = scorer.score(outfits)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    assert np.allclose(scorer.score(outfits[::-1]), scores[::-1], atol=1e-5)  # independent of batching
    assert np.allclose(scorer.score([items[:4][::-1]]), scores[0], atol=1e-5)  # an outfit is a set
    with_each = scorer.score_with(items[:3], items[3:])
    assert np.allclose(with_each, scorer.score([[*items[:3], c] for c in items[3:]]), atol=1e-5)
    assert scorer.score_with(items[:3], []).shape == (0,)
    pairs = scorer.pair_scores(items[:4])
    assert pairs.shape == (4, 4) and np.isnan(np.diag(pairs)).all()
    off = ~np.eye(4, dtype=bool)
    assert np.isfinite(pairs[off]).all() and np.allclose(pairs, pairs.T, equal_nan=True, atol=1e-5)


def scorer_is_learned(name: str) -> bool:
    return make(name).learned


@pytest.mark.parametrize("name", [n for n in list_scorers() if scorer_is_learned(n)])
def test_learned_scorers_save_load_and_refuse_other_embeddings(name, tmp_path):
    scorer = make(name, embed_dim=12, embedding_model="vestis-lite@aaaa")
    items = random_items(6, dim=12)
    scorer.save(tmp_path / "m")
    again = load_scorer(tmp_path / "m")
    assert type(again) is type(scorer)
    assert np.allclose(again.score([items, items[:3]]), scorer.score([items, items[:3]]))
    scorer.check_embeddings("vestis-lite@aaaa")
    with pytest.raises(ValueError, match="trained on"):
        again.check_embeddings("vestis-lite@bbbb")


@pytest.mark.parametrize("name", list_scorers())
def test_every_scorer_keeps_its_calibration_and_structure(name, tmp_path):
    from vestis.outfits.calibration import fit_calibration
    from vestis.outfits.structure import Structure

    scorer = make(name, **({"embed_dim": 12} if scorer_is_learned(name) else {}))
    items = random_items(6, dim=12)
    scorer.adapt(items)
    assert scorer.probability([items]) is None  # not calibrated: no probability
    raw = scorer.score([items[:k] for k in range(2, 7)])
    scorer.calibration = fit_calibration(raw, [0, 1, 0, 1, 1])
    scorer.structure = Structure.fit([["top", "bottom", "footwear"]] * 30, min_looks=10)
    again = load_scorer(scorer.save(tmp_path / "m"))
    again.adapt(items)
    looks = [items[:3], [items[0], items[0]]]  # the second: two tops, a structural problem
    p = again.probability(looks)
    assert np.allclose(p, scorer.probability(looks), atol=1e-5) and ((p >= 0) & (p <= 1)).all()
    assert p[1] < again.calibration(again.score(looks[1:]))[0]


def test_load_scorer_defaults_and_names(tmp_path, monkeypatch):
    import vestis.outfits.base as base

    monkeypatch.setattr(base, "shipped_dir", lambda: tmp_path / "none")
    assert load_scorer().name == "cooccurrence"  # nothing shipped: the baseline
    assert load_scorer("cooccurrence").name == "cooccurrence"
    with pytest.raises(FileNotFoundError, match="train outfits"):
        load_scorer("type-aware")  # a learned scorer needs weights
    make("type-aware").save(tmp_path / "shipped")
    monkeypatch.setattr(base, "shipped_dir", lambda: tmp_path / "shipped")
    assert load_scorer().name == load_scorer("type-aware").name == "type-aware"


def test_cooccurrence_centres_by_category():
    from vestis.outfits import ItemFeatures

    a = ItemFeatures(np.array([1.0, 0.2]), "top")
    b = ItemFeatures(np.array([1.0, -0.2]), "top")
    shoe = ItemFeatures(np.array([0.0, 1.0]), "footwear")
    shoe2 = ItemFeatures(np.array([0.2, 1.2]), "footwear")
    plain = create_scorer("cooccurrence", centre=False)
    assert plain.score([[a, shoe]])[0] == pytest.approx(0.2 / np.hypot(1, 0.2))
    centred = create_scorer("cooccurrence").adapt([a, b, shoe, shoe2])
    # after removing category means, a's and shoe2's departures point the same way
    assert centred.score([[a, shoe2]])[0] > centred.score([[a, shoe]])[0]
