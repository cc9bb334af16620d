"""Every registered extractor honours the contract: adding a backend adds its tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import vestis.extract.backends  # noqa: F401  (registers the built-in backends)
from vestis.data.example import Example
from vestis.extract.base import EXTRACTORS, Extraction, Extractor, create_extractor
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


# Backends that need weights get tiny random ones here, and API backends a local fake endpoint,
# so the contract covers them too.
OPTIONS = {
    "lite": lambda req: {"model": str(req.getfixturevalue("tiny_lite"))},
    "openai": lambda req: {"model": "m", "base_url": req.getfixturevalue("fake_openai").url, "backoff": 0.0},
    "vlm": lambda req: {"model": str(req.getfixturevalue("tiny_vlm_dir")), "max_new_tokens": 300},
}


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_extractor_contract(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    options = OPTIONS[name](request) if name in OPTIONS else {}
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


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_one_result_per_item_of_several_photos(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extractor = create_extractor(name, SCHEMA, **(OPTIONS[name](request) if name in OPTIONS else {}))
    extractor.fit(TRAIN)
    good, path, bad = _images(tmp_path)[0], _images(tmp_path)[1], b"not an image"
    results = extractor.extract_items([[good, path], [bad], [path, bad]])
    assert len(results) == 3
    assert results[0].error is None and SCHEMA.validate(results[0].attributes).ok
    assert "not_image" in results[1].error and results[1].attributes == SCHEMA.empty()
    assert "not_image" in results[2].error and SCHEMA.validate(results[2].attributes).ok


def test_a_backend_returning_too_few_results_is_a_bug_not_a_silent_shift():
    class Short(Extractor):
        name = "short"

        def _extract_batch(self, images):
            return [Extraction(self.schema.empty()) for _ in images[1:]]

    with pytest.raises(RuntimeError, match="returned 1 results for 2 images"):
        Short(SCHEMA).extract([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))])


def test_photos_of_one_item_fuse_front_first_later_photos_filling_nulls():
    class ByColour(Extractor):
        """Front photos (red) know the colour; label photos (white) know the category only."""

        name = "by-colour"

        def _extract_batch(self, images):
            out = []
            for im in images:
                red = im.getpixel((0, 0))[0] > 128 and im.getpixel((0, 0))[1] < 128
                attrs = (
                    {"colour": "red", "category": None} if red else {"category": "dress", "colour": "white"}
                )
                conf = {"colour": 0.6, "category": 0.2} if red else {"category": 0.8, "colour": 0.99}
                out.append(self.from_raw(attrs, conf))
            return out

    front, label = Image.new("RGB", (8, 8), (220, 20, 20)), Image.new("RGB", (8, 8), (250, 250, 250))
    fused = ByColour(SCHEMA).extract_items([[front, label]])[0]
    assert fused.attributes["colour"] == "red" and fused.confidence["colour"] == 0.6  # the label's is ignored
    assert (
        fused.attributes["category"] == "dress" and fused.confidence["category"] == 0.8
    )  # filled by the label
