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
from vestis.train.text_bank_config import TextBankConfig
from vestis.train.text_bank_trainer import choose, train_text_bank, validation_tasks


def config(tmp_path, **changes) -> TextBankConfig:
    return TextBankConfig.from_dict(
        {
            "datasets": ["generated"],
            "embedder": "test-random",
            "embedder_options": {"dim": 32},
            "ks": [1, 3],
            "taus": [0.05],
            "weights": [0.5, 2.0],
            "val_fraction": 0.3,
            "out_dir": str(tmp_path / "run"),
        }
        | changes
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return GeneratedDataset(tmp_path_factory.mktemp("bank-images"), n_per_cell=3)


def test_the_bank_carries_titles_to_their_photos_and_says_so(tmp_path, data):
    cfg = config(tmp_path)
    directory = train_text_bank(cfg, datasets=[data])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    bank = TextBank.load(directory)
    assert report["beats_direct"] and bank.beats_direct and bank.weight > 0
    assert report["cross_fitted"] > report["direct"] + 0.2
    assert all(row["chosen"]["R@10"] > row["direct"]["R@10"] for row in report["tasks"].values())
    assert report["bank"]["captions"] > 0 and report["bank"]["unreadable"] == 0
    embedder = load_embedder("test-random", dim=32)
    assert bank.model_id == embedder.model_id
    embedder.use_text_bank(bank)
    assert not np.allclose(embedder.embed_queries(["a red top"]), embedder.embed_texts(["a red top"]))


def test_a_useless_bank_is_not_used(tmp_path, data):
    cfg = config(tmp_path)
    embedder = load_embedder("test-random", dim=32)
    tasks = validation_tasks(embedder, {"generated": data.split("val", cfg.val_fraction)})
    rng = np.random.default_rng(0)
    noise = TextBank(rng.standard_normal((40, 32)), rng.standard_normal((40, 32)), embedder.model_id)
    report = choose(noise, tasks, cfg)
    assert not report["beats_direct"]
    if report["chosen"]["weight"] == 0:
        assert report["chosen"]["k"] in cfg.ks and report["chosen"]["tau"] in cfg.taus  # kept loadable


def test_bad_settings_are_refused():
    with pytest.raises(OptionsError, match="ks"):
        TextBankConfig.from_dict({"ks": [0]})
    with pytest.raises(OptionsError, match="taus"):
        TextBankConfig.from_dict({"taus": []})
    with pytest.raises(OptionsError, match="weights"):
        TextBankConfig.from_dict({"weights": [-1.0]})
