"""Scores users can trust: calibrated probabilities, structure learned from real looks, and a
`complete` that proposes only what a look has room for, best first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import people_shop
from vestis.cli.main import main
from vestis.outfits import create_scorer, load_scorer
from vestis.outfits.calibration import (
    Calibration,
    classification_metrics,
    expected_calibration_error,
    fit_calibration,
    reliability,
)
from vestis.outfits.complete import complete_outfit, photo_outfit, score_outfit
from vestis.outfits.structure import Structure

# Hand-made real looks: separates with shoes, dresses with shoes, sometimes a coat over a top,
# sometimes two tops layered; never two bottoms, two pairs of shoes or a dress with a bottom.
LOOKS = (
    [["top", "bottom", "footwear"]] * 40
    + [["top", "outerwear", "bottom", "footwear", "bag"]] * 20
    + [["dress", "footwear", "bag"]] * 25
    + [["top", "top", "bottom", "footwear"]] * 10
)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrated_probabilities_lie_in_0_1_and_rise_with_the_raw_score(method):
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(200), np.zeros(600)]
    raw = rng.normal(labels * 1.5, 1.0)  # real looks score higher, with overlap
    cal = fit_calibration(raw, labels, method)
    grid = np.linspace(raw.min() - 3, raw.max() + 3, 500)
    p = cal(grid)
    assert ((p >= 0) & (p <= 1)).all() and (np.diff(p) >= -1e-12).all()
    assert p[-1] > 0.9 and p[0] < 0.1  # informative at the extremes
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.allclose(again(grid), p)
    # balanced weights: the 3:1 surplus of random looks does not pull probabilities down
    assert abs(np.mean(cal(raw[labels == 1])) + np.mean(cal(raw[labels == 0])) - 1.0) < 0.05


def test_platt_on_a_score_that_falls_with_realness_gives_one_probability():
    cal = fit_calibration([3.0, 2.0, 1.0, 0.0], [0, 0, 1, 1], "platt")
    assert np.allclose(cal([-5.0, 0.0, 5.0]), 0.5)


def test_ece_reliability_and_f1_on_a_hand_made_case():
    probs = [0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.8, 0.8, 0.8]
    labels = [0, 0, 0, 1, 1, 1, 1, 0, 1]
    # bin [0.1, 0.2): 4 looks, share real 0.25 vs 0.1; bin [0.8, 0.9): 5 looks, 0.8 vs 0.8
    assert expected_calibration_error(probs, labels) == pytest.approx(4 / 9 * 0.15)
    rows = reliability(probs, labels)
    assert [(r["low"], r["looks"]) for r in rows] == [(0.1, 4), (0.8, 5)]
    assert rows[0]["share_real"] == pytest.approx(0.25)
    weights = [1, 1, 1, 1, 1, 1, 1, 3, 1]  # one random look weighted three times
    assert expected_calibration_error(probs, labels, weights=weights) == pytest.approx(
        4 / 11 * 0.15 + 7 / 11 * abs(4 / 7 - 0.8)
    )
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == pytest.approx(7 / 9)  # 3 of 4 below 0.5 are random, 4 of 5 above are real
    assert m["precision"] == pytest.approx(4 / 5) and m["recall"] == pytest.approx(4 / 5)
    assert m["f1"] == pytest.approx(0.8)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0


def test_structure_rules_learned_from_hand_made_looks():
    s = Structure.fit(LOOKS)
    assert s.max_count("bottom") == 1 and s.max_count("footwear") == 1 and s.max_count("top") == 2
    [two_bottoms] = s.problems(["top", "bottom", "bottom", "footwear"])
    assert (
        two_bottoms.kind == "count"
        and two_bottoms.items == (1, 2)
        and "2 bottom items" in two_bottoms.message
    )
    assert s.problems(["top", "outerwear", "bottom", "footwear"]) == []  # a top under outerwear is fine
    assert s.problems(["top", "top", "bottom"]) == []  # two tops layered: 10 of 70 looks with a top
    [dress_bottom] = s.problems(["dress", "bottom"])
    assert dress_bottom.kind == "together" and set(dress_bottom.categories) == {"dress", "bottom"}
    assert s.factor(["top", "bottom", "footwear"]) == 1.0
    assert 0 < s.factor(["top", "bottom", "footwear", "footwear"]) < 0.1
    assert s.needs(["top"]) == ["footwear", "bottom", "bag", "outerwear"]  # the most common first
    assert s.needs(["dress"]) == ["footwear", "bag"]  # no top or bottom; no coat over a dress in LOOKS
    assert s.blocked(["dress", "footwear"], "footwear").kind == "count"
    assert s.blocked(["top", "bottom"], "outerwear") is None
    again = Structure.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.problems(["dress", "bottom"]) == s.problems(["dress", "bottom"])
    shoes = s.spelled(lambda c: {"footwear": "shoes"}.get(c, c))
    assert shoes.max_count("shoes") == 1 and shoes.problems(["shoes", "shoes"])[0].categories == ("shoes",)
    layered = Structure.fit(LOOKS + [["dress", "top", "footwear"]] * 2)  # 2 of 27 dresses: a cardigan
    assert layered.problems(["dress", "top"]) == [] and "top" not in layered.needs(["dress"])
    rare = Structure.fit(LOOKS + [["swimwear", "swimwear"]] * 3)
    assert rare.max_count("swimwear") is None  # 3 looks: too few for a rule


def fitted_scorer(catalog):
    """cooccurrence with a structure from LOOKS and a calibration fitted on made-up scores."""
    scorer = create_scorer("cooccurrence")
    scorer.structure = Structure.fit(LOOKS)
    labels = np.r_[np.ones(50), np.zeros(50)]
    scorer.calibration = fit_calibration(np.r_[np.linspace(-0.2, 1, 50), np.linspace(-1, 0.2, 50)], labels)
    scorer.embedding_model = catalog.store.embedding_model()
    return scorer


def by_category(catalog, category: str) -> list[int]:
    return sorted(
        it.id for it in catalog.store.get(catalog.store.ids()) if it.attributes["category"] == category
    )


def test_complete_never_proposes_a_second_pair_of_shoes_and_says_why(shop):
    catalog, query = shop
    scorer = fitted_scorer(catalog)
    look = [*photo_outfit(catalog, str(query)), by_category(catalog, "footwear")[0]]
    needed = complete_outfit(catalog, look, scorer, min_probability=0.0)
    assert "footwear" not in needed and not {"top", "bottom", "dress"} & set(needed)
    asked = complete_outfit(catalog, look, scorer, slots=["shoes"], min_probability=0.0)
    assert asked["footwear"] == [] and "cannot take footwear" in asked["footwear"].reason
    # without shoes, shoes are what it needs, ranked best first whatever the diversity
    for diversity in (0.0, 0.9):
        looks = complete_outfit(catalog, look[:2], scorer, k=3, diversity=diversity, min_probability=0.0)
        shoes = looks["footwear"]
        assert len(shoes) == len(by_category(catalog, "footwear")) > 1
        assert [s.score for s in shoes] == sorted((s.score for s in shoes), reverse=True)
        assert all(0 <= s.probability <= 1 for s in shoes)
    strict = complete_outfit(catalog, look[:2], scorer, slots=["shoes"], min_probability=1.0)
    assert strict["footwear"] == [] and "probability 1.00" in strict["footwear"].reason


def test_score_explains_probability_structure_and_needs(shop):
    catalog, query = shop
    scorer = fitted_scorer(catalog)
    shoes = by_category(catalog, "footwear")[:2]
    fine = score_outfit(catalog, [*photo_outfit(catalog, str(query)), shoes[0]], scorer)
    doubled = score_outfit(catalog, [*photo_outfit(catalog, str(query)), *shoes], scorer)
    assert 0 <= fine.probability <= 1 and fine.problems == []
    assert doubled.problems[0].categories == ("footwear",) and doubled.probability < fine.probability
    assert fine.to_dict()["needs"] == ["outerwear", "bag"]  # in the order of the schema's categories


def test_the_cli_json_carries_the_probability(shop, tmp_path, capsys):
    catalog, query = shop
    model = fitted_scorer(catalog).save(tmp_path / "fitted")
    assert load_scorer(model).calibration is not None
    shoes = [str(i) for i in by_category(catalog, "footwear")[:2]]
    base = ["--catalog", str(catalog.directory), "--scorer", str(model)]
    capsys.readouterr()
    assert main(["outfits", "score", str(query), *shoes, *base, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["probability"], float) and 0 <= out["probability"] <= 1
    assert out["problems"][0]["items"] == [int(s) for s in shoes]
    assert main(["outfits", "score", str(query), *shoes, *base]) == 0
    text = capsys.readouterr().out
    assert "probability of a real outfit" in text and "structural problem" in text
    assert main(["outfits", "complete", str(query), shoes[0], *base, "--slots", "shoes", "--json"]) == 0
    assert "cannot take footwear" in json.loads(capsys.readouterr().out)["footwear"]["reason"]
    uncalibrated = ["--catalog", str(catalog.directory), "--scorer", "cooccurrence", "--json"]
    assert main(["outfits", "score", str(query), *uncalibrated]) == 0
    assert json.loads(capsys.readouterr().out)["probability"] is None


def test_photo_looks_are_the_garments_the_tags_name(tmp_path):
    from vestis.embed import load_embedder
    from vestis.extract.base import load_extractor
    from vestis.outfits.features import photo_looks

    shop = people_shop(tmp_path / "shop")
    photos = [
        ("a", shop / "people" / "red-navy.png", ("blouse", "skirt")),  # the shoes are not named
        ("b", shop / "people" / "green-yellow.png", ("t-shirt", "jeans", "sneakers")),
        ("c", shop / "products" / "navy-top.png", ()),  # a product shot: no look
    ]

    def looks():
        extractor, embedder = load_extractor("majority"), load_embedder("test-random", dim=8)
        return photo_looks(photos, extractor, embedder, "test-figure", tmp_path / "cache", progress=False)

    data = looks()
    assert {k: [data.categories[i] for i in o] for k, o in data.outfits.items()} == {
        "a": ["top", "bottom"],
        "b": ["top", "bottom", "footwear"],
    }
    assert data.ids[data.outfits["b"][2]] == "b#2" and data.embeddings.shape[1] == 8
    assert np.array_equal(looks().embeddings, data.embeddings)  # read back from the cache


def test_aligned_photo_looks_share_the_dataset_category_means():
    from tests.outfits.conftest import synthetic_outfits
    from vestis.outfits.data import align_means

    data = synthetic_outfits()
    photos = synthetic_outfits(n_outfits=60, seed=1)
    photos.embeddings = photos.embeddings + np.float32(3.0)  # worn crops: another look overall
    aligned = align_means(photos, data)

    def mean(d, c):
        rows = sorted({i for o in d.outfits.values() for i in o if d.categories[i] == c})
        return d.embeddings[rows].mean(0)

    for c in ("top", "footwear"):
        assert np.allclose(mean(aligned, c), mean(data, c), atol=1e-5)
        assert not np.allclose(mean(photos, c), mean(data, c), atol=1e-2)
