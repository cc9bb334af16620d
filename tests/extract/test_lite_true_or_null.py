"""True or null: disabled heads, per-value gates, multi-label "absent", no copied secondary colour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import TINY_HEADS, draw_item

pytest.importorskip("efficientnet_lite_pytorch")


def gated_model(directory: Path, **config) -> Path:
    """The tiny test model plus a multi-label ``style`` head, with ``config`` entries set."""
    import torch

    from vestis.models.lite import LiteModelConfig, VestisLite

    torch.manual_seed(0)
    heads = {**TINY_HEADS, "style": ["casual", "formal", "sporty"]}
    cfg = LiteModelConfig(image_size=64, split=14, heads=heads, multi=["style"], **config)
    return VestisLite(cfg).save(directory)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("imgs")
    return [
        str(draw_item(root / f"{i}.jpg", c, k))
        for i, (c, k) in enumerate([("red", "top"), ("navy", "bottom")])
    ]


def make(model_dir: Path, **kw):
    from vestis.extract.base import create_extractor
    from vestis.schema import load_schema

    return create_extractor("lite", load_schema("vestis"), model=str(model_dir), **kw)


def test_a_disabled_head_answers_null_with_zero_confidence(tmp_path, images):
    ex = make(gated_model(tmp_path / "m", disabled={"neckline": "12 training labels (< 200)"}), threshold=0.0)
    plan = ex.plans["neckline"]
    assert plan.kind == "none" and "12 training labels" in plan.reason
    for r in ex.extract(images):
        assert r.attributes["neckline"] is None and r.confidence["neckline"] == 0.0


def test_a_multi_label_head_can_answer_nothing(tmp_path, images):
    gates = {"style": {"casual": 1.01, "formal": None, "sporty": None}}
    ex = make(gated_model(tmp_path / "m", value_thresholds=gates), threshold=0.0)
    for r in ex.extract(images):
        assert r.attributes["style"] == []
        assert 0.0 < r.confidence["style"] < 1.0  # casual's probability; the never-said values count not


def test_multi_label_values_without_gates_keep_the_usual_threshold(tmp_path, images):
    ex = make(gated_model(tmp_path / "m", value_thresholds={"style": {"formal": None}}), threshold=0.0)
    for r in ex.extract(images):
        assert "formal" not in r.attributes["style"]
    p = ex.plans["style"].gates
    assert p is not None and p[list(ex.schema.fields["style"].values).index("formal")] == float("inf")


def test_a_gated_single_value_is_null_below_its_threshold(tmp_path, images):
    gates = {"category": dict.fromkeys(TINY_HEADS["category"], 1.01)}
    ex = make(gated_model(tmp_path / "m", value_thresholds=gates), threshold=0.0)
    for r in ex.extract(images):
        assert r.attributes["category"] is None and r.attributes["type"] is None


def test_secondary_colour_never_copies_the_colour(tiny_lite, images):
    for zero_shot in ("auto", "all"):
        ex = make(tiny_lite, threshold=0.0, zero_shot=zero_shot)
        assert ex.plans["colour"].kind == "head"
        assert ex.plans["secondary_colour"].kind == "none"
        for r in ex.extract(images):
            second = r.attributes["secondary_colour"]
            assert second is None or second != r.attributes["colour"]


def test_gates_are_read_from_config_json(tmp_path):
    from vestis.models.lite_config import LiteModelConfig

    d = gated_model(tmp_path / "m", disabled={"style": "why"}, value_thresholds={"style": {"sporty": None}})
    cfg = LiteModelConfig.from_dict(json.loads((d / "config.json").read_text()))
    assert cfg.disabled == {"style": "why"} and cfg.value_thresholds == {"style": {"sporty": None}}
