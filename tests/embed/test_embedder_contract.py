"""Every registered embedder honours the contract: adding a backend adds its tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vestis.embed import Embedder, list_embedders, load_embedder
from vestis.errors import InputError, OptionsError
from vestis.images import ImageLoadError

# Backends that need weights get tiny random ones here; a new backend without an entry fails below.
OPTIONS = {
    "lite": lambda req: {"model": str(req.getfixturevalue("tiny_lite"))},
    "hf-clip": lambda req: {"model": str(req.getfixturevalue("tiny_clip"))},
    "test-random": lambda req: {"dim": 24},
}


def test_every_embedder_has_contract_options():
    assert set(list_embedders()) <= set(OPTIONS), "add the new embedder to OPTIONS with tiny weights"


@pytest.fixture(params=list_embedders())
def embedder(request) -> Embedder:
    return load_embedder(request.param, **OPTIONS[request.param](request))


def _sources(tmp_path: Path) -> list:
    path = tmp_path / "blue.png"
    Image.new("RGB", (64, 80), (40, 90, 200)).save(path)
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), (250, 220, 20)).save(buf, format="JPEG")
    return [Image.new("RGB", (60, 60), (200, 25, 35)), str(path), path, buf.getvalue()]


def test_images_and_texts_are_unit_vectors_of_dim(embedder: Embedder, tmp_path: Path):
    imgs = embedder.embed_images(_sources(tmp_path))
    txt = embedder.embed_texts(["a red dress", "navy jeans", "a red dress"])
    assert imgs.shape == (4, embedder.dim) and txt.shape == (3, embedder.dim)
    assert imgs.dtype == txt.dtype == np.float32
    assert np.allclose(np.linalg.norm(imgs, axis=1), 1, atol=1e-4)
    assert np.allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-4)
    assert np.allclose(txt[0], txt[2], atol=1e-5) and not np.allclose(txt[0], txt[1], atol=1e-3)
    assert not np.allclose(imgs[0], imgs[1], atol=1e-3)  # the vector depends on the photo


def test_one_source_or_text_gives_one_row(embedder: Embedder, tmp_path: Path):
    one = embedder.embed_images(_sources(tmp_path)[1])
    assert one.shape == (1, embedder.dim)
    assert embedder.embed_texts("a red dress").shape == (1, embedder.dim)
    assert embedder.embed_images([]).shape == (0, embedder.dim)


def test_batches_give_the_same_vectors(embedder: Embedder, tmp_path: Path):
    sources = _sources(tmp_path)
    whole = embedder.embed_images(sources)
    embedder.batch_size = 1
    assert np.allclose(whole, embedder.embed_images(sources), atol=1e-4)


def test_bad_inputs_are_user_errors(embedder: Embedder, tmp_path: Path):
    with pytest.raises(ImageLoadError):
        embedder.embed_images(b"not an image")
    with pytest.raises(InputError):
        embedder.embed_texts("")
    with pytest.raises(InputError, match="limit"):
        embedder.embed_texts("x" * 100_000)
    vectors, ok = embedder.embed_many([*_sources(tmp_path), str(tmp_path / "missing.jpg")], progress=False)
    assert ok.tolist() == [True, True, True, True, False] and not vectors[4].any()


def test_model_id_and_compose(embedder: Embedder):
    assert embedder.model_id and embedder.model_id == embedder.model_id
    a, b = embedder.embed_texts(["red", "blue"])
    c = embedder.compose(a, b)
    assert c.shape == (embedder.dim,) and abs(float(np.linalg.norm(c)) - 1) < 1e-4


def test_unknown_and_mistyped_options_are_refused():
    with pytest.raises(OptionsError, match="known: dim, seed"):
        load_embedder("test-random", dims=8)
    with pytest.raises(OptionsError, match="dim must be an integer"):
        load_embedder("test-random", dim="eight")
