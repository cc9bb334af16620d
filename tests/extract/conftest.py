"""Tiny random vision-language checkpoints for the vlm backend (built once per session, no download)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_vlms(tmp_path_factory) -> dict[str, Path]:
    """family → directory of a tiny random checkpoint (Idefics3/SmolVLM, Qwen2-VL, Florence-2)."""
    pytest.importorskip("transformers")
    from tests.tiny_vlm import FAMILIES, tiny_vlm

    root = tmp_path_factory.mktemp("tiny-vlm")
    return {family: tiny_vlm(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_vlm_dir(tiny_vlms) -> Path:
    """The tiny Qwen2-VL checkpoint, for tests that need one VLM of any family."""
    return tiny_vlms["qwen2_vl"]
