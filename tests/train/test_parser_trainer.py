"""The parser recipe on a tiny generated street/-like dataset: loss falls, weights change, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("efficientnet_lite_pytorch")

LABELS = ["null", "skin", "hair", "t-shirt", "jeans", "shoes"]


def make_street(root, n=14, tagged=16):
    """Figures on varied backgrounds: hair, face, a t-shirt, jeans and shoes; ``n`` with label maps,
    then ``tagged`` with tags only (every other one without shoes: its feet are background)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "labels.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(LABELS)))
    rows = ["image,mask,tags"]
    colours = {1: (220, 180, 150), 2: (60, 40, 20), 3: (200, 30, 30), 4: (40, 60, 140), 5: (20, 20, 20)}
    for i in range(n + tagged):
        mask = np.zeros((96, 64), dtype=np.uint8)
        dx = int(rng.integers(-8, 9))
        mask[4:10, 26 + dx : 38 + dx] = 2
        mask[10:20, 26 + dx : 38 + dx] = 1
        mask[20:48, 18 + dx : 46 + dx] = 3
        mask[48:84, 22 + dx : 42 + dx] = 4
        shoes = i < n or i % 2 == 0
        if shoes:
            mask[84:92, 20 + dx : 44 + dx] = 5
        img = np.empty((96, 64, 3), dtype=np.uint8)
        img[:] = rng.integers(80, 256, 3)
        for k, c in colours.items():
            img[mask == k] = c
        name = f"{i:04d}"
        Image.fromarray(img).save(root / "images" / f"{name}.jpg")
        if i < n:
            Image.fromarray(mask).save(root / "masks" / f"{name}.png")
            rows.append(f"images/{name}.jpg,masks/{name}.png,t-shirt;jeans;shoes")
        else:
            rows.append(f"images/{name}.jpg,,t-shirt;jeans{';shoes' if shoes else ''}")
    (root / "items.csv").write_text("\n".join(rows) + "\n")


def make_products(root, n=20):
    """Product shots: one garment-coloured rectangle on a light studio background."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for i in range(n):
        img = np.full((64, 48, 3), 235, dtype=np.uint8)
        img[8:56, 8:40] = rng.integers(0, 256, 3)
        Image.fromarray(img).save(root / f"{i:04d}.jpg")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vestis.train.parser_config import ParserTrainConfig
    from vestis.train.parser_trainer import train_parser

    root = tmp_path_factory.mktemp("parser")
    make_street(root / "street")
    make_products(root / "products")
    cfg = ParserTrainConfig(
        data=str(root / "street"),
        product_datasets=[str(root / "products")],
        image_size=64,
        width=8,
        epochs=4,
        batch_size=4,
        lr=1e-2,
        val_fraction=0.3,
        out_dir=str(root / "run"),
        cache_dir=str(root / "cache"),
        threads=2,
    )
    return cfg, train_parser(cfg)


def test_loss_falls_and_model_card_is_written(trained):
    cfg, model_dir = trained
    history = json.loads((model_dir / "metrics.json").read_text())["history"]
    losses = [h["train_loss"] for h in history]
    assert len(losses) == cfg.epochs and losses[-1] < losses[0]
    assert "vestis-parser" in (model_dir / "README.md").read_text()
    assert set(json.loads((model_dir / "checksums.json").read_text())) >= {"config.json", "model.safetensors"}


def test_head_changed_and_reloads_to_identical_outputs(trained):
    from vestis.models.parser import ParserConfig, ParserModel
    from vestis.parse.labels import CLASSES
    from vestis.train.config import seed_everything

    cfg, model_dir = trained
    seed_everything(cfg.seed)
    fresh = ParserModel(
        ParserConfig(image_size=64, width=8, classes=list(CLASSES))
    )  # the trainer's initial head
    a, b = ParserModel.load(model_dir), ParserModel.load(model_dir)
    assert not torch.equal(a.head.classify.weight, fresh.head.classify.weight)
    assert torch.equal(
        a.backbone.blocks[3]._project_conv.weight, fresh.backbone.blocks[3]._project_conv.weight
    )
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(a(x), b(x)) and a(x).shape == (2, 11, 8, 8)


def test_resume_continues_from_the_checkpoint(trained):
    from vestis.errors import OptionsError
    from vestis.train.parser_config import ParserTrainConfig
    from vestis.train.parser_trainer import train_parser

    cfg, model_dir = trained
    before = json.loads((model_dir / "metrics.json").read_text())["history"]
    train_parser(
        ParserTrainConfig.from_dict(cfg.to_dict())
    )  # checkpoint at the last epoch: nothing retrained
    after = json.loads((model_dir / "metrics.json").read_text())["history"]
    assert after == before
    with pytest.raises(OptionsError, match="another config"):
        train_parser(ParserTrainConfig.from_dict({**cfg.to_dict(), "lr": 5e-3}))


def test_lite_parser_runs_a_trained_model_directory(trained):
    from vestis.parse.base import load_parser

    cfg, model_dir = trained
    parser = load_parser("lite-parser", model=str(model_dir), person_threshold=-1.0)
    parsed = parser.parse(Image.open(f"{cfg.data}/images/0000.jpg"))
    assert parsed.kind == "person" and parsed.size == (64, 96)


def test_calibration_is_stored_with_the_model_and_read_from_its_directory(trained, tmp_path):
    from vestis.parse.base import COARSE, load_parser

    cfg, model_dir = trained
    config = json.loads((model_dir / "config.json").read_text())
    assert set(config["class_min_area"]) == set(COARSE)
    assert all(v >= cfg.min_area for v in config["class_min_area"].values())
    rule = config["person_rule"]
    assert len(rule["features"]) == len(rule["weights"]) == len(rule["mean"]) > 30
    assert 0 <= config["person_threshold"] <= 1
    calibration = json.loads((model_dir / "metrics.json").read_text())["calibration"]
    assert set(calibration["person"]["rate_train"]) == {
        *(f"person:{k}" for k in ("photos", "upper", "lower", "middle")),
        *cfg.product_datasets,
    }

    parser = load_parser("lite-parser", model=str(model_dir))
    assert parser.threshold == config["person_threshold"] and parser.rule.features == rule["features"]
    photo = Image.open(f"{cfg.data}/images/0000.jpg")

    def edited(**changes):
        return _edited_copy(model_dir, tmp_path / f"model{len(list(tmp_path.iterdir()))}", **changes)

    always = edited(person_rule={**rule, "bias": 50.0}, person_threshold=0.5)
    never = edited(person_rule={**rule, "bias": -50.0}, person_threshold=0.5)
    assert load_parser("lite-parser", model=always).parse(photo).kind == "person"
    assert load_parser("lite-parser", model=never).parse(photo).kind == "product"
    every = edited(person_rule={**rule, "bias": 50.0}, class_min_area=dict.fromkeys(COARSE, 0.0))
    none = edited(person_rule={**rule, "bias": 50.0}, class_min_area=dict.fromkeys(COARSE, 1.01))
    assert load_parser("lite-parser", model=every).parse(photo).regions
    assert load_parser("lite-parser", model=none).parse(photo).regions == []


def _edited_copy(model_dir, out, **changes):
    """A copy of a model directory with config.json changed (keys set to None are removed)."""
    import shutil

    from vestis.models.lite_config import sha256

    shutil.copytree(model_dir, out)
    config = json.loads((out / "config.json").read_text())
    config = {k: v for k, v in {**config, **changes}.items() if v is not None}
    (out / "config.json").write_text(json.dumps(config))
    sums = json.loads((out / "checksums.json").read_text())
    (out / "checksums.json").write_text(json.dumps({**sums, "config.json": sha256(out / "config.json")}))
    return str(out)


def test_a_version_1_config_keeps_the_skin_and_hair_rule(trained, tmp_path):
    from vestis.parse.base import load_parser
    from vestis.parse.labels import CLASSES
    from vestis.parse.regions import regions_from_classmap

    cfg, model_dir = trained
    v1 = _edited_copy(
        model_dir, tmp_path / "v1", version="1", class_min_area=None, person_rule=None, min_area=0.002
    )
    parser = load_parser("lite-parser", model=v1, person_threshold=0.05)
    assert parser.rule is None and parser.config.class_min_area == {}
    for i in range(3):
        photo = Image.open(f"{cfg.data}/images/{i:04d}.jpg").convert("RGB")
        (cmap, probs), parsed = parser.class_maps([photo])[0], parser.parse(photo)
        share = float(np.isin(cmap, [CLASSES.index("skin"), CLASSES.index("hair")]).mean())
        assert parsed.person_score == share and parsed.kind == ("person" if share > 0.05 else "product")
        if parsed.kind == "person":
            assert parsed.regions == regions_from_classmap(cmap, photo.size, probs, min_area=0.002)


def test_calibrate_only_keeps_the_weights_byte_for_byte(trained, tmp_path):
    from vestis.data.street import load_street
    from vestis.parse.base import load_parser
    from vestis.train.parser_config import ParserTrainConfig
    from vestis.train.parser_trainer import calibration_photo, train_parser

    cfg, model_dir = trained
    v1 = _edited_copy(model_dir, tmp_path / "v1", version="1", class_min_area=None, person_rule=None)
    out = train_parser(
        ParserTrainConfig.from_dict({**cfg.to_dict(), "calibrate": v1, "out_dir": str(tmp_path / "cal")})
    )
    assert (out / "model.safetensors").read_bytes() == (model_dir / "model.safetensors").read_bytes()
    config = json.loads((out / "config.json").read_text())
    original = json.loads((model_dir / "config.json").read_text())
    assert config["version"] == "2" and config["person_rule"] and config["class_min_area"]
    assert config["person_rule"] == original["person_rule"]  # same data, same settings: same calibration
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["history"] == json.loads((model_dir / "metrics.json").read_text())["history"]
    assert metrics["calibration_config"]["calibrate"] == v1
    assert "--calibrate" in (out / "README.md").read_text()
    n_calibration = sum(calibration_photo(p) for p in load_street(cfg.data))
    assert 0 < n_calibration < 16 and metrics["calibration"]["people_photos"] == n_calibration
    assert load_parser("lite-parser", model=str(out)).rule is not None
