"""The parser recipe on a tiny generated street/-like dataset: loss falls, weights change, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("efficientnet_lite_pytorch")

LABELS = ["null", "skin", "hair", "t-shirt", "jeans", "shoes"]


def make_street(root, n=14):
    """Figures on varied backgrounds: hair, face, a t-shirt, jeans and shoes, with label maps."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "labels.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(LABELS)))
    rows = ["image,mask,tags"]
    colours = {1: (220, 180, 150), 2: (60, 40, 20), 3: (200, 30, 30), 4: (40, 60, 140), 5: (20, 20, 20)}
    for i in range(n):
        mask = np.zeros((96, 64), dtype=np.uint8)
        dx = int(rng.integers(-8, 9))
        mask[4:10, 26 + dx : 38 + dx] = 2
        mask[10:20, 26 + dx : 38 + dx] = 1
        mask[20:48, 18 + dx : 46 + dx] = 3
        mask[48:84, 22 + dx : 42 + dx] = 4
        mask[84:92, 20 + dx : 44 + dx] = 5
        img = np.empty((96, 64, 3), dtype=np.uint8)
        img[:] = rng.integers(80, 256, 3)
        for k, c in colours.items():
            img[mask == k] = c
        name = f"{i:04d}"
        Image.fromarray(img).save(root / "images" / f"{name}.jpg")
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
        rows.append(f"images/{name}.jpg,masks/{name}.png,t-shirt;jeans;shoes")
    (root / "items.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vestis.train.parser_config import ParserTrainConfig
    from vestis.train.parser_trainer import train_parser

    root = tmp_path_factory.mktemp("parser")
    make_street(root / "street")
    cfg = ParserTrainConfig(
        data=str(root / "street"),
        product_datasets=[],
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
