"""Text built from examples: captions for training, modification texts for composed retrieval."""

from __future__ import annotations

from vestis.data import Example
from vestis.data.text import attribute_phrase, captions_for, modification
from vestis.schema import load_schema

SCHEMA = load_schema("vestis")


def test_modification_describes_colour_and_pattern_changes() -> None:
    assert modification({"colour": "red"}, {"colour": "navy"}, SCHEMA) == "in navy"
    assert (
        modification({"colour": "red", "pattern": "solid"}, {"colour": "red", "pattern": "striped"}, SCHEMA)
        == "with a striped pattern"
    )
    assert modification({"colour": "red"}, {"colour": "red"}, SCHEMA) is None


def test_captions_start_with_the_title_then_text_then_attribute_phrases() -> None:
    labels = {"category": "top", "type": "t_shirt", "colour": "black", "sleeve_length": "long"}
    example = Example("x1", "x.jpg", labels, text="A soft cotton tee", meta={"title": "Basic Tee"})
    captions = captions_for(example, SCHEMA)
    assert captions[:3] == ["Basic Tee", "A soft cotton tee", attribute_phrase(labels, SCHEMA)]
    assert "black" in captions[2] and "long sleeves" in captions[2]
    assert captions_for(example, SCHEMA) == captions  # deterministic (seeded by the id)
    assert attribute_phrase({"colour": "black"}, SCHEMA) is None  # no noun, no phrase
