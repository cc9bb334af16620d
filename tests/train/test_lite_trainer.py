from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import GeneratedDataset

pytest.importorskip("efficientnet_lite_pytorch")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vestis.train.lite_config import LiteTrainConfig
    from vestis.train.lite_trainer import train_lite

    root = tmp_path_factory.mktemp("lite")
    ds = GeneratedDataset(root / "images", n_per_cell=3)
    cfg = LiteTrainConfig(
        datasets=["generated"],
        image_size=64,
        split=14,
        epochs=3,
        batch_size=16,
        lr=5e-3,
        backbone_lr=1e-3,
        val_fraction=0.3,
        out_dir=str(root / "run"),
        cache_dir=str(root / "cache"),
        threads=2,
    )
    model_dir = train_lite(cfg, datasets=[ds])
    return cfg, ds, model_dir


def test_loss_falls_and_report_is_written(trained):
    cfg, _, model_dir = trained
    summary = json.loads((model_dir / "metrics.json").read_text())
    losses = [h["train_loss"]["total"] for h in summary["history"]]
    assert len(losses) == cfg.epochs
    assert losses[-1] < losses[0]
    assert (model_dir.parent / "report.html").read_text().count("<img") == 1
    card = (model_dir / "README.md").read_text()
    assert "vestis-lite" in card and "colour" in card


def test_trained_parameters_changed_and_frozen_did_not(trained):
    from vestis.models.lite import VestisLite

    _, _, model_dir = trained
    model = VestisLite.load(model_dir)
    fresh = VestisLite(model.config)
    trained_state, fresh_state = model.state_dict(), fresh.state_dict()
    assert not torch.equal(
        trained_state["backbone.blocks.15._project_conv.weight"],
        fresh_state["backbone.blocks.15._project_conv.weight"],
    )
    assert torch.equal(
        trained_state["backbone.blocks.3._project_conv.weight"],
        fresh_state["backbone.blocks.3._project_conv.weight"],
    )


def test_saved_model_reloads_to_identical_outputs(trained):
    from vestis.colour import COLOUR_FEATURE_DIM
    from vestis.models.lite import VestisLite

    _, _, model_dir = trained
    a, b = VestisLite.load(model_dir), VestisLite.load(model_dir)
    assert a.config.colour_dim == COLOUR_FEATURE_DIM and a.config.colour_heads == ["colour"]
    x = torch.randn(2, 3, 64, 64)
    colour = torch.rand(2, COLOUR_FEATURE_DIM)
    with torch.inference_mode():
        ea, la = a(x, colour)
        eb, lb = b(x, colour)
        with pytest.raises(ValueError, match="colour features"):
            a(x)
    assert torch.equal(ea, eb)
    assert all(torch.equal(la[k], lb[k]) for k in la)
    assert set(la) == {"category", "colour"}


def test_checksum_detects_corruption(trained, tmp_path):
    import shutil

    from vestis.models.lite import VestisLite

    _, _, model_dir = trained
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        VestisLite.load(copy)


def test_resume_continues_from_the_checkpoint(trained):
    from vestis.train.lite_config import LiteTrainConfig
    from vestis.train.lite_trainer import train_lite

    cfg, ds, model_dir = trained
    before = json.loads((model_dir / "metrics.json").read_text())["history"]
    longer = LiteTrainConfig.from_dict({**cfg.to_dict(), "epochs": cfg.epochs})
    train_lite(longer, datasets=[ds])  # checkpoint already at the last epoch: nothing retrained
    after = json.loads((model_dir / "metrics.json").read_text())["history"]
    assert [h["train_loss"] for h in after] == [h["train_loss"] for h in before]
    changed = LiteTrainConfig.from_dict({**cfg.to_dict(), "lr": 1e-2})
    with pytest.raises(ValueError, match="another config"):
        train_lite(changed, datasets=[ds])


def test_feature_cache_is_reused(trained):
    cfg, _, _ = trained
    from pathlib import Path

    chunks = sorted(Path(cfg.cache_dir).glob("lower-*/*.npz"))
    assert chunks and all(np.load(c)["features"].dtype == np.float16 for c in chunks)


def test_feature_cache_runner_onnx_matches_torch():
    pytest.importorskip("onnxruntime")
    from vestis.models.backbones import EfficientNetLite0
    from vestis.train.features import lower_runner

    backbone = EfficientNetLite0(split=11).eval()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 64, 64)).astype(np.float32)
    with torch.inference_mode():
        expected = backbone.lower(torch.from_numpy(x)).numpy()
    got = lower_runner(backbone, 64)(x)
    assert got.shape == expected.shape
    assert np.allclose(got, expected, atol=1e-4)


def test_worn_variants_replace_only_product_shots_at_their_probability():
    from vestis.train.lite_trainer import Split, WornVariants, _batch

    n = 6
    feats = np.zeros((n, 1, 1, 1), np.float16)
    worn = WornVariants(
        row=np.array([0, 1, -1, 2, -1, 3]),  # rows 2 and 4: worn garments already, no variant
        features=np.ones((4, 1, 1, 1), np.float16),
        colour=np.ones((4, 2), np.float32),
        probability=1.0,
    )
    split = Split(
        [None] * n, feats, None, np.zeros(n, bool), np.zeros((n, 2), np.float32), {}, [[]] * n, worn
    )
    x, _, _, colour = _batch(split, np.arange(n), np.random.default_rng(0), train=True)
    assert x.flatten().tolist() == [1, 1, 0, 1, 0, 1] and colour[:, 0].tolist() == [1, 1, 0, 1, 0, 1]
    x, _, _, _ = _batch(split, np.arange(n), np.random.default_rng(0), train=False)
    assert x.flatten().tolist() == [0] * n  # validation never sees variants
    split.worn.probability = 0.5
    seen = sum(
        _batch(split, np.arange(n), np.random.default_rng(s), train=True)[0].sum().item() for s in range(200)
    )
    assert 0.4 < seen / (4 * 200) < 0.6


def test_worn_augment_trains_on_cached_variants_of_product_shots(tmp_path):
    from vestis.train.lite_config import LiteTrainConfig
    from vestis.train.lite_trainer import train_lite

    class Worn(GeneratedDataset):
        kind = "generated-worn"
        worn = True

    products, worn = GeneratedDataset(tmp_path / "p", n_per_cell=2), Worn(tmp_path / "w", n_per_cell=1)
    cfg = LiteTrainConfig(
        image_size=64,
        split=14,
        epochs=1,
        batch_size=16,
        val_fraction=0.3,
        worn_augment=0.5,
        out_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        threads=2,
    )
    model_dir = train_lite(cfg, datasets=[products, worn])
    summary = json.loads((model_dir / "metrics.json").read_text())
    assert summary["config"]["worn_augment"] == 0.5
    assert np.isfinite(summary["history"][0]["train_loss"]["total"])
    # one cached variant per product shot of the train split, none for the worn garments
    train_products = len(products.split("train", 0.3))
    sizes = [json.loads(m.read_text())["n"] for m in (tmp_path / "cache").glob("lower-*/meta.json")]
    assert train_products in sizes
