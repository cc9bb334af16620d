"""Every registered extractor honours the contract: adding a backend adds its tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import vestis.extract.backends  # noqa: F401  (registers the built-in backends)
from vestis.data.example import Example
from vestis.extract.base import EXTRACTORS, Extraction, create_extractor
from vestis.schema import load_schema

SCHEMA = load_schema("vestis")
TRAIN = [
    Example(f"t{i}", "unused.jpg", {"category": "top", "colour": c, "closure": ["zip"] if i % 2 else []})
    for i, c in enumerate(["red", "navy", "red", "black"])
]


def _images(tmp_path: Path) -> list:
    path = tmp_path / "blue.png"
    Image.new("RGB", (64, 80), (40, 90, 200)).save(path)
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), (250, 220, 20)).save(buf, format="JPEG")
    return [
        Image.new("RGB", (60, 60), (200, 25, 35)),
        str(path),
        b"this is not an image",
        buf.getvalue(),
        str(tmp_path / "missing.jpg"),
        b"\xff\xd8\xff\xe0 a JPEG header cut short",
    ]


# Backends that need weights get tiny random ones here, so the contract covers them too.
MODEL_FIXTURES = {"lite": "tiny_lite"}


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_extractor_contract(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    options = {"model": str(request.getfixturevalue(MODEL_FIXTURES[name]))} if name in MODEL_FIXTURES else {}
    extractor = create_extractor(name, SCHEMA, **options)
    extractor.fit(TRAIN)
    images = _images(tmp_path)
    results = extractor.extract(images)

    assert len(results) == len(images)
    assert all(isinstance(r, Extraction) for r in results)
    for i, res in enumerate(results):
        assert SCHEMA.validate(res.attributes).ok, (i, res.attributes)
        assert set(res.attributes) == set(SCHEMA.fields)
        assert all(0.0 <= c <= 1.0 for c in res.confidence.values())
        assert (res.error is not None) == (i in (2, 4, 5)), (
            i,
            res.error,
        )  # in order: the bad ones are 2, 4, 5
    assert "not_image" in results[2].error and "not_found" in results[4].error
    assert "truncated" in results[5].error or "corrupt" in results[5].error
    assert results[2].attributes == SCHEMA.empty()
    assert extractor.extract([]) == []
