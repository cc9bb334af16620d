"""The lite runtime's query path: ONNX towers that match torch, each loaded only when needed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("efficientnet_lite_pytorch")

TEXTS = [
    "red dress",
    "a pair of black leather ankle boots with a low block heel",
    "x",
    "Été : robe à fleurs 🌸",
    "navy " * 400,  # longer than MiniLM's 256 tokens: truncated the same way
]
HEAVY = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="module")
def onnx_runtime(tiny_lite):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    pytest.importorskip("sentence_transformers")
    from vestis.models.lite_runtime import LiteRuntime

    return LiteRuntime(tiny_lite, "auto")


def test_text_onnx_matches_torch(tiny_lite, onnx_runtime):
    from vestis.models.lite_runtime import LiteRuntime

    torch_runtime = LiteRuntime(tiny_lite, "torch")
    assert onnx_runtime.text_onnx is not None and torch_runtime.text_onnx is None
    for batch in (TEXTS, TEXTS[:1], TEXTS[3:]):
        a, b = onnx_runtime.embed_texts(batch), torch_runtime.embed_texts(batch)
        assert a.shape == b.shape == (len(batch), 256) and a.dtype == np.float32
        assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
        assert (a * b).sum(axis=1).min() >= 0.9999


def test_torch_runs_both_towers_without_onnxruntime(tiny_lite, onnx_runtime, monkeypatch):
    from vestis.models.lite_runtime import LiteRuntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    fallback = LiteRuntime(tiny_lite, "auto")
    texts = fallback.embed_texts(TEXTS[:2])
    image = fallback.forward([Image.new("RGB", (30, 40), (10, 20, 200))])[0]
    assert fallback.text_onnx is None and fallback.onnx is None and fallback.loaded() == ["model"]
    assert (texts * onnx_runtime.embed_texts(TEXTS[:2])).sum(axis=1).min() >= 0.9999
    assert image.shape == (1, 256)


def test_text_projection_is_the_models(tiny_lite):
    import torch

    from vestis.models.lite import VestisLite
    from vestis.models.lite_runtime import TextProjection

    features = torch.nn.functional.normalize(torch.randn(3, 384), dim=-1)
    with torch.no_grad():
        expected = VestisLite.load(tiny_lite).embed_text_features(features).numpy()
    got = TextProjection.load(tiny_lite / "model.safetensors")(features.numpy())
    assert np.allclose(got, expected, atol=1e-6)


def _probe(code: str, cache: str) -> dict:
    """Run ``code`` in a fresh interpreter (it prints JSON) and return what it printed."""
    env = {**os.environ, "VESTIS_CACHE": cache, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_queries_load_only_their_tower(tiny_lite, onnx_runtime, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 60), (200, 30, 30)).save(photo)
    onnx_runtime.embed_texts(["warm up"])  # both exports exist before the fresh processes start
    onnx_runtime.forward([Image.open(photo)])
    check = (
        "import json, sys\n"
        "from vestis.embed import load_embedder\n"
        f"e = load_embedder('lite', model={str(tiny_lite)!r})\n"
        "{query}\n"
        "print(json.dumps({{'heavy': sorted(m for m in {heavy!r} if m in sys.modules),\n"
        "  'loaded': e.runtime.loaded(), 'tokenizers': 'tokenizers' in sys.modules}}))"
    )
    cache = os.environ["VESTIS_CACHE"]
    text = _probe(check.format(query="e.embed_texts(['red dress'])", heavy=HEAVY), cache)
    assert text == {"heavy": [], "loaded": ["text"], "tokenizers": True}
    image = _probe(check.format(query=f"e.embed_images({str(photo)!r})", heavy=HEAVY), cache)
    assert image == {"heavy": [], "loaded": ["image"], "tokenizers": False}
    composed = _probe(
        check.format(
            query=f"e.compose(e.embed_images({str(photo)!r})[0], e.embed_texts('in black')[0])", heavy=HEAVY
        ),
        cache,
    )
    assert composed["heavy"] == [] and set(composed["loaded"]) == {"image", "text"}


def test_onnx_path_still_verifies_checksums(tiny_lite, tmp_path):
    pytest.importorskip("onnxruntime")
    from vestis.models.lite_runtime import LiteRuntime

    copy = tmp_path / "model"
    shutil.copytree(tiny_lite, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        LiteRuntime(copy, "onnx").forward([Image.new("RGB", (8, 8))])


def test_composer_arrays_match_torch(tmp_path):
    import torch

    from vestis.models.composer import Composer, ComposerConfig
    from vestis.models.composer_runtime import ComposerArrays

    torch.manual_seed(0)
    composer = Composer(ComposerConfig(dim=16, hidden=32)).eval()
    composer.save(tmp_path / "c")
    image = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    with torch.no_grad():
        expected = composer(image, text).numpy()
    got = ComposerArrays.load(tmp_path / "c")(image.numpy(), text.numpy())
    assert np.allclose(got, expected, atol=1e-5)


def test_runtime_uses_a_composer_only_when_it_beats_the_sum_and_needs_no_text_encoder_of_its_own(
    tiny_lite, tmp_path
):
    from vestis.models.composer import Composer, ComposerConfig
    from vestis.models.lite_runtime import LiteRuntime

    model = tmp_path / "model"
    shutil.copytree(tiny_lite, model)
    Composer(ComposerConfig(dim=16, hidden=8)).save(model / "composer")
    metrics = {"composer": {"R@1": 0.3, "R@10": 0.8}, "sum": {"R@1": 0.2, "R@10": 0.7}}
    (model / "composer" / "composer_report.json").write_text(json.dumps({"val": {"hm": metrics}}))
    assert LiteRuntime(model, "torch").composer is not None
    (model / "composer" / "text_encoder").mkdir()  # a stage-2 composer: its texts need its own MiniLM
    assert LiteRuntime(model, "torch").composer is None


def test_file_digest_is_remembered_until_the_file_changes(tmp_path):
    from vestis.cache import file_digest, sha256_file

    path = Path(tmp_path / "weights.bin")
    path.write_bytes(b"one")
    assert file_digest(path) == file_digest(path) == sha256_file(path)
    path.write_bytes(b"three")
    assert file_digest(path) == sha256_file(path)
