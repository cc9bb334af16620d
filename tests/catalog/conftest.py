"""Fast catalogs for the catalog tests: the weightless test-random embedder and a trivial extractor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_photo(path: Path, seed: int, size: tuple[int, int] = (48, 64)) -> Path:
    """A small random PNG (distinct content per seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def ingested_catalog(tmp_path: Path, config, n: int, seed: int) -> Path:
    """A catalog at ``tmp_path/cat`` holding ``n`` random photos (seeds from ``seed``), closed."""
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.ingest import ingest

    src = tmp_path / "src"
    for i in range(n):
        write_photo(src / f"{i}.png", seed + i)
    catalog = Catalog.create(tmp_path / "cat", config)
    ingest(catalog, str(src), progress=False)
    catalog.close()
    return tmp_path / "cat"


@pytest.fixture
def fast_config():
    """CatalogConfig factory: majority extractor + test-random embedder (no weights)."""
    from vestis.catalog.catalog import CatalogConfig

    def make(index: str = "exact") -> CatalogConfig:
        if index == "faiss":
            pytest.importorskip("faiss")
        return CatalogConfig(extractor="majority", embedder="test-random", index=index)

    return make
