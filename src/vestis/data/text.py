"""Text about examples, built from their metadata and labels: captions and modification texts.

* Captions for image–text training: the source's own text plus phrases built from labels.
  Attribute phrases ("black striped jersey t-shirt, long sleeves, for women") teach the
  text tower the schema's vocabulary on every dataset, including those without text.
* :func:`modification`: the words for what changes between two items ("in navy"), the text
  of a composed-retrieval query.
* :func:`relative_caption`: a varied training caption naming each changed attribute and the
  value it replaces ("with long sleeves and a striped pattern instead of short sleeves and plain").

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
#: the attributes a relative caption may name (single-valued schema fields that change a garment's look)
CAPTION_FIELDS = ("colour", "pattern", "sleeve_length", "neckline", "material", "fit")
#: relative caption wordings; ``{new}`` and ``{old}`` are lists of attribute phrases
CAPTION_TEMPLATES = (
    "with {new} instead of {old}",
    "{new} rather than {old}",
    "change {old} to {new}",
    "the same but {new}, not {old}",
    "replace {old} with {new}",
)


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
            if name == "colour":
                parts.append(f"in {schema.fields[name].values[b].text}")
            else:  # "with a striped pattern", or "plain"
                phrase = _attribute(name, b, schema)
                parts.append(phrase if b == "solid" else f"with {phrase}")
    return " and ".join(parts) if parts else None


def _attribute(field: str, value: str, schema: Schema) -> str:
    """A noun phrase for one attribute value: "navy", "a striped pattern", "long sleeves"."""
    text = schema.fields[field].values[value].text
    if field == "pattern":
        return "plain" if value == "solid" else f"a {text} pattern"
    if field == "sleeve_length":
        return "no sleeves" if value == "sleeveless" else f"{text} sleeves"
    if field == "neckline":
        return f"a {text}" if text.endswith("neck") else f"a {text} neckline"
    if field == "fit":
        return f"a {text} fit"
    return text


def _listing(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def differences(
    ref: dict[str, Any], target: dict[str, Any], schema: Schema, fields: tuple[str, ...] = CAPTION_FIELDS
) -> list[str]:
    """The fields among ``fields`` that both items label (with schema values) and that differ."""
    out = []
    for name in fields:
        a, b = ref.get(name), target.get(name)
        if name in schema.fields and a and b and a != b:
            values = schema.fields[name].values
            if isinstance(a, str) and isinstance(b, str) and a in values and b in values:
                out.append(name)
    return out


def relative_caption(
    ref: dict[str, Any],
    target: dict[str, Any],
    schema: Schema,
    rng: random.Random,
    max_differences: int = 3,
    fields: tuple[str, ...] = CAPTION_FIELDS,
) -> str | None:
    """A caption turning ``ref`` into ``target``: every differing attribute with the value it
    replaces, in a random order and one of :data:`CAPTION_TEMPLATES`; None when the items differ
    in none or in more than ``max_differences`` of ``fields``.

    >>> from vestis.schema import load_schema
    >>> relative_caption({"colour": "red"}, {"colour": "navy"}, load_schema("vestis"), random.Random(1))
    'navy rather than red'
    """
    changed = differences(ref, target, schema, fields)
    if not changed or len(changed) > max_differences:
        return None
    rng.shuffle(changed)
    new = _listing([_attribute(f, target[f], schema) for f in changed])
    old = _listing([_attribute(f, ref[f], schema) for f in changed])
    return rng.choice(CAPTION_TEMPLATES).format(new=new, old=old)
