"""The shipped outfit model (when there is one) loads, is small, and matches the shipped vestis-lite."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.outfits.base import shipped_dir


@pytest.fixture(scope="module")
def shipped():
    if not (shipped_dir() / "config.json").is_file():
        pytest.skip("no outfit model shipped yet (it waits for the final vestis-lite)")
    from vestis.outfits import load_scorer

    return load_scorer()


def test_shipped_outfit_model_is_small_and_trained_on_the_shipped_lite(shipped):
    from vestis.models.registry import lite_model_id

    assert sum(p.stat().st_size for p in shipped_dir().iterdir()) < 5_000_000
    assert shipped.learned and shipped.embedding_model == lite_model_id(None)


def test_shipped_outfit_model_scores(shipped):
    from tests.outfits.conftest import random_items

    items = random_items(5, dim=shipped.config.embed_dim)
    scores = shipped.score([items, items[:2]])
    assert scores.shape == (2,) and np.isfinite(scores).all()
