"""Text about examples, built from their metadata and labels: captions and modification texts.

* Captions for image–text training: the source's own text plus phrases built from labels.
  Attribute phrases ("black striped jersey t-shirt, long sleeves, for women") teach the
  text tower the schema's vocabulary on every dataset, including those without text.
* :func:`modification`: the words for what changes between two items ("in navy"), the text
  of a composed-retrieval query.

Training (vestis.train) and evaluation (vestis.eval) both use these, so they live with the data.

>>> from vestis.schema import load_schema
>>> modification({"colour": "red"}, {"colour": "navy", "pattern": "striped"}, load_schema("vestis"))
'in navy and with a striped pattern'
"""

from __future__ import annotations

import random
from typing import Any

from vestis.data.example import Example
from vestis.schema import Schema

TITLE_KEYS = ("prod_name", "title", "name", "product_name")  # metadata keys holding a product title
EDIT_FIELDS = ("colour", "pattern")  # the attributes a modification text describes


def _word(schema: Schema, field: str, value: str | None) -> str | None:
    if not value or field not in schema.fields:
        return None
    return schema.fields[field].values[value].text if value in schema.fields[field].values else None


def attribute_phrase(
    labels: dict[str, Any], schema: Schema, rng: random.Random | None = None, drop: float = 0.0
) -> str | None:
    """A noun phrase from labels; ``drop`` randomly leaves out modifiers for variety."""
    rng = rng or random.Random(0)

    def keep(word: str | None) -> str | None:
        return word if word and rng.random() >= drop else None

    noun = _word(schema, "type", labels.get("type")) or _word(schema, "category", labels.get("category"))
    if noun is None:
        return None
    pattern = labels.get("pattern")
    mods = [
        keep(_word(schema, "colour", labels.get("colour"))),
        keep(_word(schema, "pattern", pattern)) if pattern not in (None, "solid") else None,
        keep(_word(schema, "material", labels.get("material"))),
        keep(_word(schema, "fit", labels.get("fit")) and f"{_word(schema, 'fit', labels.get('fit'))} fit"),
    ]
    phrase = " ".join(w for w in [*mods, noun] if w)
    tails = []
    sleeve = keep(_word(schema, "sleeve_length", labels.get("sleeve_length")))
    if sleeve:
        tails.append("sleeveless" if sleeve == "sleeveless" else f"{sleeve} sleeves")
    neck = keep(_word(schema, "neckline", labels.get("neckline")))
    if neck:
        tails.append(f"{neck} neckline")
    closure = labels.get("closure") or []
    if closure and rng.random() >= drop:
        tails.append("with " + " and ".join(schema.fields["closure"].values[c].text for c in closure))
    gender = keep(_word(schema, "gender", labels.get("gender")))
    age = labels.get("age_group")
    if age in ("kids", "baby"):
        tails.append(f"for {age}")
    elif gender:
        tails.append(f"for {gender}")
    return ", ".join([phrase, *tails])


def title(example: Example) -> str | None:
    """The product title in the example's metadata (the first of :data:`TITLE_KEYS` it has), or None."""
    for key in TITLE_KEYS:
        value = example.meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def captions_for(example: Example, schema: Schema, n_phrases: int = 2) -> list[str]:
    """Deterministic caption variants of one example (seeded by its id)."""
    rng = random.Random(example.id)
    out: list[str] = []
    name = title(example)
    if name:
        out.append(name)
    if example.text and example.text.strip() and example.text.strip() not in out:
        out.append(example.text.strip()[:300])
    full = attribute_phrase(example.labels, schema)
    if full:
        out.append(full)
    for _ in range(n_phrases - 1):
        varied = attribute_phrase(example.labels, schema, rng, drop=0.4)
        if varied and varied not in out:
            out.append(varied)
    return out


def modification(ref: dict[str, Any], target: dict[str, Any], schema: Schema) -> str | None:
    """Words for what changes from ``ref`` to ``target`` among the edit fields, or None."""
    parts = []
    for name in EDIT_FIELDS:
        a, b = ref.get(name), target.get(name)
        if b and a != b:
            text = schema.fields[name].values[b].text
            parts.append(
                f"in {text}" if name == "colour" else f"with a {text} pattern" if b != "solid" else "plain"
            )
    return " and ".join(parts) if parts else None
