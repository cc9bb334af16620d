"""Training smoke test per learned scorer: tiny model, synthetic outfits, CPU, seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from tests.outfits.conftest import TINY, synthetic_outfits
from vestis.outfits import create_scorer, load_scorer
from vestis.outfits.data import disjoint_split
from vestis.train.outfits_config import OutfitsTrainConfig
from vestis.train.outfits_trainer import Batcher, outfit_loss, train_outfits


def config(tmp_path, name: str, scorer: str) -> OutfitsTrainConfig:
    return OutfitsTrainConfig(
        scorer=scorer,
        scorer_options=TINY[scorer],
        epochs=6,
        batch_size=16,
        lr=5e-3,
        val_fraction=0.2,
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

    data = synthetic_outfits()
    train = data.subset(disjoint_split(data.outfits, cfg.val_fraction)[0])
    outfits = [train.outfits[k] for k in sorted(train.outfits)]
    pools = (train.pool(True), train.pool())
    scorer.net.eval()
    with torch.no_grad():
        loss, _ = outfit_loss(
            scorer.net, Batcher(data, scorer), outfits, train, pools, cfg, np.random.default_rng(7)
        )
    return float(loss)


@pytest.mark.parametrize("scorer", ["type-aware", "set-transformer"])
def test_training_learns_saves_and_reloads(tmp_path, scorer):
    import torch

    model_dir = run(tmp_path, "a", scorer)
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["val"]["auc"] > 0.8  # compatible items share a style the model can see
    loaded = load_scorer(model_dir)
    data = synthetic_outfits()
    items = sorted({i for k in disjoint_split(data.outfits, 0.2)[0] for i in data.outfits[k]})
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    fresh = create_scorer(scorer, embed_dim=16, **TINY[scorer])
    fresh.fit_centring(data.embeddings[items], [data.categories[i] for i in items])
    cfg = config(tmp_path, "a", scorer)
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


def test_cooccurrence_is_not_trainable(tmp_path):
    cfg = OutfitsTrainConfig(scorer="cooccurrence", epochs=1, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not a learned scorer"):
        train_outfits(cfg, data=synthetic_outfits(), model_id="x")


def test_train_on_shared_keeps_the_validation_outfits_and_trains_on_the_rest(tmp_path):
    data = synthetic_outfits()
    cfg = config(tmp_path, "shared", "type-aware")
    cfg.epochs, cfg.train_on_shared = 1, True
    train_outfits(cfg, data=data, model_id="vestis-lite@test")
    report = json.loads((tmp_path / "shared" / "report.json").read_text())
    train_ids, val_ids = disjoint_split(data.outfits, cfg.val_fraction)
    assert report["val_outfits"] == len(val_ids)
    assert report["train_outfits"] == len(data.outfits) - len(val_ids) > len(train_ids)
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
