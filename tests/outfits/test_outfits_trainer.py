"""Training smoke test per learned scorer: tiny model, synthetic outfits, CPU, seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.outfits.conftest import TINY, synthetic_outfits
from vestis.outfits import create_scorer, load_scorer
from vestis.outfits.data import calibrated_split, disjoint_split
from vestis.train.outfits_config import OutfitsTrainConfig
from vestis.train.outfits_trainer import Batcher, outfit_loss, train_outfits


def config(tmp_path, name: str, scorer: str, calibration: str = "none") -> OutfitsTrainConfig:
    """A tiny run; uncalibrated unless asked (calibrating trains twice, see the refit test)."""
    return OutfitsTrainConfig(
        scorer=scorer,
        scorer_options=TINY[scorer],
        epochs=6,
        batch_size=16,
        lr=5e-3,
        val_fraction=0.2,
        calibration=calibration,
        threads=1,
        out_dir=str(tmp_path / name),
    )


def run(tmp_path, name: str, scorer: str):
    return train_outfits(
        config(tmp_path, name, scorer), data=synthetic_outfits(), model_id="vestis-lite@test"
    )


def fixed_loss(scorer, cfg) -> float:
    """The training loss of every training outfit against fixed negatives (no noise from sampling)."""
    import torch

    train = training_looks(cfg)
    outfits = [train.outfits[k] for k in sorted(train.outfits)]
    pools = (train.pool(True), train.pool())
    scorer.net.eval()
    with torch.no_grad():
        loss, _ = outfit_loss(
            scorer.net, Batcher(train, scorer), outfits, train, pools, cfg, np.random.default_rng(7)
        )
    return float(loss)


def training_looks(cfg: OutfitsTrainConfig):
    """The looks the shipped model trains on (validation looks held out; calibration looks too
    unless the recipe refits on them)."""
    fraction = 0.0 if cfg.calibration_refit or cfg.calibration == "none" else cfg.calibration_fraction
    train, _, _ = calibrated_split(synthetic_outfits(), cfg.val_fraction, fraction, cfg.keep_partial)
    return train


@pytest.mark.parametrize("scorer", ["type-aware", "set-transformer"])
def test_training_learns_saves_and_reloads(tmp_path, scorer):
    import torch

    model_dir = run(tmp_path, "a", scorer)
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["val"]["auc"] > 0.8  # compatible items share a style the model can see
    loaded = load_scorer(model_dir)
    data = synthetic_outfits()
    cfg = config(tmp_path, "a", scorer)
    items = sorted({i for o in training_looks(cfg).outfits.values() for i in o})
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    fresh = create_scorer(scorer, embed_dim=16, **TINY[scorer])
    fresh.fit_centring(data.embeddings[items], [data.categories[i] for i in items])
    assert fixed_loss(loaded, cfg) < fixed_loss(fresh, cfg)  # the loss fell
    trained = load_file(str(model_dir / "model.safetensors"))
    initial = fresh.net.state_dict()
    assert any(not torch.equal(trained[k], initial[k]) for k in trained)  # the parameters changed
    assert loaded.embedding_model == "vestis-lite@test"
    outfits = [data.items(o) for o in list(data.outfits.values())[:5]]
    assert np.array_equal(loaded.score(outfits), load_scorer(tmp_path / "a").score(outfits))
    assert (
        json.loads((model_dir / "config.json").read_text())["trained"]["val"]["auc"] == report["val"]["auc"]
    )
    assert (model_dir / "README.md").read_text().startswith("# vestis outfit scorer")
    # deterministic: the same config and seed give the same weights
    again = load_file(str(run(tmp_path, "b", scorer) / "model.safetensors"))
    assert all(torch.equal(trained[k], again[k]) for k in trained)


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown config key"):
        OutfitsTrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError):
        OutfitsTrainConfig.from_dict({"val_fraction": 1.5})


def test_a_non_learned_scorer_is_calibrated_and_given_a_structure(tmp_path):
    cfg = OutfitsTrainConfig(scorer="cooccurrence", val_fraction=0.2, out_dir=str(tmp_path / "c"))
    model_dir = train_outfits(cfg, data=synthetic_outfits(), model_id="vestis-lite@test")
    assert not (model_dir / "model.safetensors").exists()
    loaded = load_scorer(model_dir)
    assert loaded.name == "cooccurrence" and loaded.embedding_model == "vestis-lite@test"
    assert loaded.calibration.method == "platt" and loaded.calibration.fitted_on["outfits"] > 0
    assert loaded.structure.max_count("top") == 1  # every synthetic look has exactly one top
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert 0 <= report["val"]["ece"] <= 1 and 0 <= report["val"]["f1"] <= 1
    assert report["calibration_outfits"] > 0 and "at most 1 top" in " ".join(report["structure_rules"])
    data = synthetic_outfits()
    looks = [data.items(o) for o in list(data.outfits.values())[:4]]
    loaded.adapt(data.items(range(len(data.ids))))
    p = loaded.probability(looks)
    assert p is not None and ((p >= 0) & (p <= 1)).all()
    two_tops = [*looks[0], next(it for it in looks[1] if it.category == "top")]
    assert loaded.probability([two_tops])[0] < loaded.calibration(loaded.score([two_tops]))[0]


def test_the_calibrated_model_is_retrained_on_every_training_look(tmp_path):
    import dataclasses

    import torch

    data = synthetic_outfits()
    cfg = dataclasses.replace(config(tmp_path, "refit", "type-aware", "platt"), epochs=2)
    refit = train_outfits(cfg, data=data, model_id="vestis-lite@test")
    plain_cfg = dataclasses.replace(cfg, calibration="none", out_dir=str(tmp_path / "plain"))
    plain = train_outfits(plain_cfg, data=data, model_id="vestis-lite@test")
    a, b = load_file(str(refit / "model.safetensors")), load_file(str(plain / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same looks, seed and recipe: the same weights
    report = json.loads((tmp_path / "refit" / "report.json").read_text())
    assert report["calibration_refit"] and report["calibration_outfits"] > 0
    assert load_scorer(refit).calibration is not None and load_scorer(plain).calibration is None
    assert "retrained with the same recipe" in (refit / "README.md").read_text()


def test_calibration_looks_share_no_item_with_training_or_validation_looks():
    data = synthetic_outfits(n_outfits=300)
    train, calib, val = calibrated_split(data, 0.2, 0.2, keep_partial=True)
    items = [{i for o in part.outfits.values() for i in o} for part in (train, calib, val)]
    assert calib.outfits and not items[0] & items[1] and not items[0] & items[2] and not items[1] & items[2]
    assert set(val.outfits) == set(disjoint_split(data.outfits, 0.2)[1])  # the same validation looks
    assert calibrated_split(data, 0.2, 0.0)[1] is None


def test_train_on_shared_keeps_the_validation_outfits_and_trains_on_the_rest(tmp_path):
    data = synthetic_outfits()
    cfg = config(tmp_path, "shared", "type-aware")
    cfg.epochs, cfg.train_on_shared = 1, True
    train_outfits(cfg, data=data, model_id="vestis-lite@test")
    report = json.loads((tmp_path / "shared" / "report.json").read_text())
    train_ids, val_ids = disjoint_split(data.outfits, cfg.val_fraction)
    assert report["val_outfits"] == len(val_ids)
    held = len(val_ids) + (0 if report["calibration_refit"] else report["calibration_outfits"])
    assert report["train_outfits"] == len(data.outfits) - held > len(train_ids)
    card = (tmp_path / "shared" / "model" / "README.md").read_text()
    assert "non-disjoint" in card and report["config"]["keep_partial"] is False


def test_partial_outfits_add_training_looks_without_validation_items():
    from vestis.outfits.data import with_partial_outfits

    data = synthetic_outfits(n_outfits=300)
    train_ids, val_ids = disjoint_split(data.outfits, 0.2)
    train = with_partial_outfits(data, train_ids, val_ids)
    held_out = {i for k in val_ids for i in data.outfits[k]}
    assert not held_out & {i for o in train.outfits.values() for i in o}  # still item-disjoint
    assert set(train_ids) < set(train.outfits) and not set(val_ids) & set(train.outfits)
    assert all(len(o) >= 2 for o in train.outfits.values())
    assert all(train.outfits[k] == data.outfits[k] for k in train_ids)


def test_photo_looks_train_beside_or_instead_of_the_dataset_looks(tmp_path):
    import dataclasses

    data, photos = synthetic_outfits(), synthetic_outfits(n_outfits=40, seed=1)
    cfg = dataclasses.replace(config(tmp_path, "both", "type-aware"), epochs=1, photo_looks="given below")
    train_outfits(cfg, data=data, model_id="vestis-lite@test", photos=photos)
    both = json.loads((tmp_path / "both" / "report.json").read_text())
    assert both["photo_outfits"] == 40 and both["train_outfits"] == len(training_looks(cfg).outfits) + 40
    alone = dataclasses.replace(cfg, dataset_looks=False, out_dir=str(tmp_path / "alone"))
    train_outfits(alone, data=data, model_id="vestis-lite@test", photos=photos)
    report = json.loads((tmp_path / "alone" / "report.json").read_text())
    assert report["train_outfits"] == report["photo_outfits"] == 40
    assert report["val_outfits"] == both["val_outfits"]  # validated on the dataset's looks either way
