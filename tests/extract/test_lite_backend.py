from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import draw_item

pytest.importorskip("efficientnet_lite_pytorch")

from tests.helpers import TINY_HEADS

CATEGORIES = TINY_HEADS["category"]
COLOURS = TINY_HEADS["colour"]


@pytest.fixture(scope="module")
def model_dir(tiny_lite) -> Path:
    return tiny_lite


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("imgs")
    return [
        str(draw_item(root / f"{i}.jpg", c, k))
        for i, (c, k) in enumerate([("red", "top"), ("navy", "bottom"), ("black", "footwear")])
    ]


def make(schema_name, model_dir, **kw):
    from vestis.extract.base import create_extractor
    from vestis.schema import load_schema

    return create_extractor("lite", load_schema(schema_name), model=str(model_dir), **kw)


@pytest.mark.parametrize("schema_name", ["vestis", "florence", "denali"])
def test_outputs_validate_for_every_preset(schema_name, model_dir, images):
    ex = make(schema_name, model_dir, threshold=0.0)
    results = ex.extract(images)
    assert len(results) == len(images)
    for r in results:
        assert ex.schema.validate(r.attributes).ok
        assert r.error is None and r.valid_raw
        assert set(r.confidence) == set(ex.schema.fields)


def test_fields_the_model_cannot_know_are_null_with_zero_confidence(model_dir, images):
    ex = make("denali", model_dir, threshold=0.0)
    assert ex.plans["type"].kind == "none" or ex.plans["type"].head == "category"
    for name in ("brand", "size", "defect_type"):
        assert ex.plans[name].kind == "none"
    for r in ex.extract(images):
        assert r.attributes["brand"] is None and r.attributes["size"] is None
        assert r.attributes["defect_type"] is None and r.confidence["defect_type"] == 0.0


def test_heads_map_onto_other_vocabularies(model_dir):
    ex = make("florence", model_dir)
    plan = ex.plans["category"]
    assert plan.kind == "head" and plan.head == "category"
    index = list(ex.schema.fields["category"].values)
    # vestis 'footwear' counts for florence 'shoes'; 'swimwear' has no florence counterpart
    assert plan.matrix[CATEGORIES.index("footwear"), index.index("shoes")] == 1
    assert plan.matrix[CATEGORIES.index("swimwear")].sum() == 0
    colour = ex.plans["color"]
    assert colour.matrix[COLOURS.index("khaki"), list(ex.schema.fields["color"].values).index("green")] == 1


def test_zero_shot_only_for_vocabularies_seen_in_training(model_dir, tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text(
        "name: user\nfields:\n  vibe:\n    kind: single\n    values: [casual, formal, elegant]\n"
        "  era:\n    kind: single\n    values: [y2k, nineties, eighties]\n"
    )
    auto = make(str(user), model_dir)
    assert auto.plans["vibe"].kind == "zero_shot" and auto.plans["era"].kind == "none"
    assert make(str(user), model_dir, zero_shot="all").plans["era"].kind == "zero_shot"
    assert make(str(user), model_dir, zero_shot="off").plans["vibe"].kind == "none"


def test_threshold_turns_low_confidence_into_null(model_dir, images):
    r = make("vestis", model_dir, threshold=1.01).extract(images)[0]
    assert r.attributes["category"] is None and r.confidence["category"] > 0


def test_fields_that_do_not_apply_are_null(model_dir, images):
    ex = make("vestis", model_dir, threshold=0.0)
    for r in ex.extract(images):
        if r.attributes["category"] in ("footwear", "bottom"):
            assert r.attributes["neckline"] is None


def test_embeddings_are_normalised_and_shared(model_dir, images):
    import numpy as np
    from PIL import Image

    from vestis.embed import load_embedder

    ex = make("vestis", model_dir)
    embedder = load_embedder("lite", model=str(model_dir))
    img = embedder.embed_images([Image.open(p).convert("RGB") for p in images])
    txt = embedder.embed_texts(["a red top", "navy trousers"])
    assert img.shape[1] == txt.shape[1] == embedder.dim == 256
    assert np.allclose(np.linalg.norm(img, axis=1), 1, atol=1e-4)
    shared = ex.extract(images)  # the extractor's vectors are the embedder's, from the same pass
    assert ex.embedding_model_id == embedder.model_id
    assert np.allclose(np.stack([r.embedding for r in shared]), img, atol=1e-5)


def test_missing_model_directory_is_a_clear_error(tmp_path):
    from vestis.models.registry import ModelNotFound

    with pytest.raises(ModelNotFound, match="no vestis-lite model"):
        make("vestis", tmp_path / "nope")


def test_runtime_auto_uses_onnx_runtime_when_installed(model_dir):
    pytest.importorskip("onnxruntime")
    assert make("vestis", model_dir).runtime.onnx is not None
    assert make("vestis", model_dir, runtime="torch").runtime.onnx is None
    with pytest.raises(ValueError, match="runtime"):
        make("vestis", model_dir, runtime="tpu")


def test_type_and_category_never_contradict(tmp_path, images):
    import torch

    from vestis.models.lite import LiteModelConfig, VestisLite
    from vestis.schema import load_schema

    schema = load_schema("vestis")
    torch.manual_seed(3)
    cfg = LiteModelConfig(
        image_size=64,
        split=14,
        heads={"category": schema.fields["category"].vocabulary, "type": schema.fields["type"].vocabulary},
    )
    directory = VestisLite(cfg).save(tmp_path / "m")
    for r in make("vestis", directory, threshold=0.0, runtime="torch").extract(images * 3):
        t, c = r.attributes["type"], r.attributes["category"]
        assert t is not None and schema.fields["type"].values[t].parent == c
