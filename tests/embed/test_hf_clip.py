"""The hf-clip embedder on tiny random CLIP and SigLIP checkpoints, end to end: embed, ingest, search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import draw_item
from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.catalog.ingest import ingest
from vestis.embed import load_embedder
from vestis.errors import OptionsError
from vestis.models.registry import ModelNotFound
from vestis.search.searcher import Searcher


@pytest.fixture(params=["tiny_clip", "tiny_siglip"])
def checkpoint(request) -> Path:
    return request.getfixturevalue(request.param)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (colour, kind) in enumerate([("red", "dress"), ("navy", "bottom"), ("black", "footwear")]):
        draw_item(folder / f"{i}-{kind}.jpg", colour, kind)
    return folder


def test_matches_the_transformers_model_directly(checkpoint: Path):
    import torch
    from transformers import AutoModel

    e = load_embedder("hf-clip", model=str(checkpoint))
    model = AutoModel.from_pretrained(str(checkpoint)).eval()
    padding = "max_length" if e.siglip else True
    batch = e.tokenizer(["red dress"], padding=padding, truncation=True, max_length=16, return_tensors="pt")
    feed = {"input_ids": batch["input_ids"]}
    if not e.siglip:
        feed["attention_mask"] = batch["attention_mask"]
    with torch.no_grad():
        out = model.get_text_features(**feed)
    ref = (out if torch.is_tensor(out) else out.pooler_output).numpy()[0]
    ref /= np.linalg.norm(ref)
    assert np.allclose(e.embed_texts("red dress")[0], ref, atol=1e-5)
    assert e.dim == ref.shape[0]


def test_catalog_with_any_extractor_and_hf_clip_vectors(checkpoint: Path, tmp_path: Path):
    cat = Catalog.create(
        tmp_path / "cat",
        CatalogConfig(
            extractor="pixel-colour",
            embedder="hf-clip",
            embedder_options={"model": str(checkpoint)},
            index="exact",
        ),
    )
    summary = ingest(cat, str(_folder(tmp_path)), progress=False)
    assert summary.added == 3
    assert cat.config.embedding_model.startswith(f"hf-clip:{checkpoint}@")
    reopened = Catalog.open(tmp_path / "cat")
    searcher = Searcher(reopened)
    by_text = searcher.search(text="red dress", k=3)
    assert len(by_text) == 3
    photo = next((tmp_path / "photos").glob("1-*.jpg"))
    by_photo = searcher.search(image=str(photo), k=1)
    assert Path(by_photo[0].path).name == photo.name  # a photo finds itself first
    composed = searcher.search(image=str(photo), modify="in red", k=3)
    assert len(composed) == 3


def test_missing_model_is_one_clear_sentence(tmp_path: Path):
    with pytest.raises(OptionsError, match="needs a model"):
        load_embedder("hf-clip")
    with pytest.raises(ModelNotFound, match="not a local path"):
        load_embedder("hf-clip", model="nobody/no-such-fashion-clip")


def test_a_catalog_refuses_vectors_of_another_space(tiny_clip: Path, tmp_path: Path):
    cat = Catalog.create(
        tmp_path / "cat",
        CatalogConfig(extractor="majority", embedder="hf-clip", embedder_options={"model": str(tiny_clip)}),
    )
    ingest(cat, str(_folder(tmp_path)), progress=False)
    cat.config.embedding_model = "hf-clip:somewhere-else@000000000000"
    cat._embedder = None
    from vestis.catalog.catalog import CatalogError

    with pytest.raises(CatalogError, match="ingest into a new catalog"):
        _ = cat.embedder


def test_retrieval_evaluator_runs_on_hf_clip(tiny_siglip: Path, tmp_path: Path):
    """End to end through evaluation: the retrieve evaluator ingests and searches with hf-clip vectors."""
    from tests.eval.conftest import Variants
    from vestis.eval.retrieve import RetrieveEvaluator

    config = CatalogConfig(
        extractor="pixel-colour",
        embedder="hf-clip",
        embedder_options={"model": str(tiny_siglip)},
        index="exact",
    )
    evaluator = RetrieveEvaluator(
        Variants(tmp_path / "imgs"), split="all", out_dir=tmp_path / "out", progress=False
    )
    metrics = evaluator(config)
    assert 0.0 <= metrics[evaluator.primary_metric] <= 1.0
    assert metrics["retrieve/image/embedding/variants/queries"] == metrics["retrieve/gallery"] == 24
    saved = Catalog.open(tmp_path / "out" / "catalog")
    assert saved.config.embedder == "hf-clip" and saved.store.count() == 24
