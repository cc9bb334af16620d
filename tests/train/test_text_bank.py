"""`vestis train text-bank` on drawn garments with the weightless test-random embedder (seconds).

test-random's text and image spaces are not aligned, so a title finds its photo by chance only;
the bank's captions share words with the queries and its prototypes look like the targets, so
the bank must beat the direct vectors by far here, and a bank of random prototypes must not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import GeneratedDataset
from vestis.embed import load_embedder
from vestis.embed.text_bank import TextBank
from vestis.errors import OptionsError
from vestis.schema import load_schema
from vestis.train.text_bank_config import TextBankConfig
from vestis.train.text_bank_trainer import _extractor, choose, per_query, train_text_bank, validation_tasks


def config(tmp_path, **changes) -> TextBankConfig:
    return TextBankConfig.from_dict(
        {
            "datasets": ["generated"],
            "embedder": "test-random",
            "embedder_options": {"dim": 32},
            "ks": [1, 3],
            "taus": [0.05],
            "weights": [0.5, 2.0],
            "item_ks": [1, 3],
            "item_taus": [0.05],
            "item_weights": [0.5, 2.0],
            "val_fraction": 0.3,
            "extractor": None,
            "out_dir": str(tmp_path / "run"),
        }
        | changes
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return GeneratedDataset(tmp_path_factory.mktemp("bank-images"), n_per_cell=3)


def test_the_bank_carries_titles_to_their_photos_and_says_so(tmp_path, data):
    cfg = config(tmp_path, item_weights=[0.0])  # the query side alone
    directory = train_text_bank(cfg, datasets=[data])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    bank = TextBank.load(directory)
    assert report["beats_direct"] and bank.beats_direct and bank.weight > 0 and bank.item_weight == 0
    assert report["cross_fitted"] > report["direct"] + 0.2
    assert all(row["chosen"]["R@10"] > row["direct"]["R@10"] for row in report["tasks"].values())
    assert report["bank"]["captions"] > 0 and report["bank"]["unreadable"] == 0
    embedder = load_embedder("test-random", dim=32)
    assert bank.model_id == embedder.model_id
    embedder.use_text_bank(bank)
    assert not np.allclose(embedder.embed_queries(["a red top"]), embedder.embed_texts(["a red top"]))


def test_the_item_side_is_swept_with_the_query_side_and_written_as_chosen(tmp_path, data):
    cfg = config(tmp_path)
    bank = TextBank.load(train_text_bank(cfg, datasets=[data]))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    chosen = report["chosen"]
    assert (bank.weight, bank.k, bank.item_weight, bank.item_k, bank.item_tau) == (
        chosen["weight"],
        chosen["k"] or bank.k,
        chosen["item_weight"],
        chosen["item_k"],
        chosen["item_tau"],
    )
    # here the photos' captions name the query's words: the item side alone finds every title
    assert bank.item_weight in cfg.item_weights and chosen["item_k"] in cfg.item_ks
    cell = chosen | ({"k": 0, "tau": 0.0} if chosen["weight"] == 0 else {})  # the grid's name for it
    assert report["grid"][" ".join(f"{k}={v}" for k, v in cell.items())] == max(report["grid"].values())
    assert report["cross_fitted"] > report["direct"] + 0.2 and report["beats_direct"]


def test_a_bank_that_carries_nothing_is_not_used(tmp_path, data):
    # prototypes of zeros: every pivot is zero and every photo gets the same caption vector, so no
    # setting can reorder the gallery; equal scores go to the smaller weights, and the estimate
    # must beat the direct vectors strictly
    cfg = config(tmp_path)
    embedder = load_embedder("test-random", dim=32)
    tasks = validation_tasks(embedder, {"generated": data.split("val", cfg.val_fraction)})
    rng = np.random.default_rng(0)
    empty = TextBank(rng.standard_normal((40, 32)), np.zeros((40, 32)), embedder.model_id)
    report = choose(empty, tasks, cfg)
    assert not report["beats_direct"] and report["cross_fitted"] == report["direct"]
    assert report["chosen"]["weight"] == 0 and report["chosen"]["item_weight"] == 0
    assert report["chosen"]["k"] in cfg.ks and report["chosen"]["tau"] in cfg.taus  # kept loadable


def test_bad_settings_are_refused():
    with pytest.raises(OptionsError, match="ks"):
        TextBankConfig.from_dict({"ks": [0]})
    with pytest.raises(OptionsError, match="taus"):
        TextBankConfig.from_dict({"taus": []})
    with pytest.raises(OptionsError, match="weights"):
        TextBankConfig.from_dict({"weights": [-1.0]})
    with pytest.raises(OptionsError, match="weights"):
        TextBankConfig.from_dict({"weights": [0.0]})
    with pytest.raises(OptionsError, match="item_ks"):
        TextBankConfig.from_dict({"item_ks": [0]})
    with pytest.raises(OptionsError, match="item_weights"):
        TextBankConfig.from_dict({"item_weights": [-0.5]})


def test_the_item_side_may_not_pay_for_one_task_with_another(tmp_path):
    # captions e0, e1 describe photos along e2, e3. In "hurt", the photo the query (e0) wants lies
    # towards e3 (its caption: e1) among eleven towards e2 (caption: e0), so the item side sinks
    # it; in the two "helped" tasks it lifts the wanted photo. The query side barely moves anything.
    e = np.eye(4, dtype=np.float32)

    def unit(v):
        return v / np.linalg.norm(v)

    def task(query, wanted, other):
        gallery = np.stack([wanted] + [other] * 11)
        return {
            "queries": np.stack([query, query]),
            "gallery": gallery,
            "relevant": [{0}, {0}],
            "fold": np.array([0, 1]),
        }

    tasks = {
        "hurt": task(e[0], unit(0.8 * e[0] + 0.6 * e[3]), unit(0.5 * e[0] + 0.86 * e[2])),
        "helped": task(e[1], unit(0.5 * e[1] + 0.86 * e[3]), unit(0.6 * e[1] + 0.8 * e[2])),
        "helped-too": task(e[1], unit(0.5 * e[1] + 0.86 * e[3]), unit(0.6 * e[1] + 0.8 * e[2])),
    }
    bank = TextBank(e[:2], e[2:], "space")
    grid = {
        "weights": [1e-6],
        "ks": [1],
        "taus": [0.05],
        "item_ks": [1],
        "item_taus": [0.05],
        "item_weights": [1.0],
    }
    free = choose(bank, tasks, config(tmp_path, **grid, item_tolerance=1.0))
    assert free["chosen"]["item_weight"] == 1.0  # the mean rises from 1/3 to 2/3 ...
    assert free["tasks"]["hurt"]["chosen"]["R@10"] == 0 and free["tasks"]["helped"]["chosen"]["R@10"] == 1
    guarded = choose(bank, tasks, config(tmp_path, **grid))  # ... at one task's expense: refused
    assert guarded["chosen"]["item_weight"] == 0 and guarded["tasks"]["hurt"]["chosen"]["R@10"] == 1


def test_validation_ranks_as_the_searcher_does(tmp_path, data):
    # only the nearest `candidates` can be found, ranked by similarity + the extra scores
    q, gallery = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.9, 0.436]])
    np.testing.assert_allclose(per_query(q, gallery, [{1}]), [[1, 0.5]])
    np.testing.assert_allclose(per_query(q, gallery, [{1}], np.array([[0.0, 1.0]]), candidates=2), [[1, 1]])
    np.testing.assert_allclose(per_query(q, gallery, [{1}], np.array([[0.0, 1.0]]), candidates=1), [[0, 0]])
    # the hybrid agreement comes from the extractor's reading of the validation photos
    cfg = config(tmp_path, extractor="pixel-colour", hybrid_weight=0.1)
    embedder = load_embedder("test-random", dim=32)
    val = {"generated": data.split("val", cfg.val_fraction)}
    tasks = validation_tasks(embedder, val, _extractor(cfg, load_schema("vestis")))
    assert tasks and all(t["agreement"].shape == (len(t["fold"]), len(t["gallery"])) for t in tasks.values())
    assert all(t["agreement"].any() for t in tasks.values())  # "a red top" names a colour it reads
    assert (
        _extractor(config(tmp_path, extractor="pixel-colour", hybrid_weight=0.0), load_schema("vestis"))
        is None
    )
    plain = choose(
        TextBank(np.eye(32)[:4], np.eye(32)[4:8], embedder.model_id), validation_tasks(embedder, val), cfg
    )
    hybrid = choose(TextBank(np.eye(32)[:4], np.eye(32)[4:8], embedder.model_id), tasks, cfg)
    assert hybrid["direct"] != plain["direct"]  # the same vectors, ranked with the agreement


def test_a_mistyped_extractor_fails_before_any_work(tmp_path, data, monkeypatch):
    from vestis.embed.base import Embedder

    def no_work(*args, **kwargs):
        raise AssertionError("photos were embedded before the extractor was checked")

    monkeypatch.setattr(Embedder, "embed_many", no_work)
    with pytest.raises(Exception, match="unknown extractor 'nope'"):
        train_text_bank(config(tmp_path, extractor="nope"), datasets=[data])
