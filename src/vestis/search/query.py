"""Schema values named in a text query ("black leather jacket" → colour black, material leather, type jacket).

Which fields a query may name is the schema's ``mentionable`` role (see :mod:`vestis.schema.roles`).

They become soft constraints in hybrid scoring: items whose extracted attributes agree with
what the query names move up, without excluding the rest (the extraction may be wrong).
"""

from __future__ import annotations

import re

import numpy as np

from vestis.schema import Schema


def attribute_mentions(
    text: str, schema: Schema, fields: tuple[str, ...] | None = None
) -> dict[str, set[str]]:
    """Closed-field values whose name or synonym appears as a phrase of 1–3 words in ``text``.

    ``fields`` defaults to the schema's ``mentionable`` role; values of its ``plurals`` fields
    may also appear in the plural ("dresses").
    """
    fields = schema.roles.mentionable if fields is None else fields
    plurals = set(schema.roles.plurals)
    words = re.findall(r"[a-z0-9/]+(?:-[a-z0-9]+)*", text.lower())
    found: dict[str, set[str]] = {}
    used: dict[str, set[int]] = {}  # per field: "leather jacket" is a type and still names a material
    for n in (3, 2, 1):  # longest phrases first: "navy blue" before "blue"
        for i in range(len(words) - n + 1):
            span = set(range(i, i + n))
            phrase = " ".join(words[i : i + n])
            for name in fields:
                f = schema.fields.get(name)
                if f is None or not f.closed or span & used.get(name, set()):
                    continue
                value = f.canonical(phrase)
                if value is None and name in plurals and phrase.endswith("s"):
                    value = f.canonical(phrase[:-1])
                if value:
                    found.setdefault(name, set()).add(value)
                    used.setdefault(name, set()).update(span)
    return found


def agreement(attributes: dict, mentions: dict[str, set[str]]) -> float:
    """Fraction of mentioned fields whose extracted value matches (multi fields: any overlap)."""
    if not mentions:
        return 0.0
    score = 0
    for name, wanted in mentions.items():
        value = attributes.get(name)
        values = set(value) if isinstance(value, list) else {value}
        score += bool(values & wanted)
    return score / len(mentions)


def agreement_matrix(mentions: list[dict[str, set[str]]], attributes: list[dict]) -> np.ndarray:
    """[Q, N] float32: :func:`agreement` of every item's ``attributes`` with every query's
    ``mentions``, computed field by field as products of value indicator matrices."""
    out = np.zeros((len(mentions), len(attributes)), dtype=np.float32)
    named = np.array([len(m) for m in mentions], dtype=np.float32)
    for name in sorted({f for m in mentions for f in m}):
        values = sorted({v for m in mentions for v in m.get(name, ())})
        col = {v: j for j, v in enumerate(values)}
        wanted = np.zeros((len(mentions), len(values)), dtype=np.float32)
        for q, m in enumerate(mentions):
            for v in m.get(name, ()):
                wanted[q, col[v]] = 1
        has = np.zeros((len(attributes), len(values)), dtype=np.float32)
        for i, attrs in enumerate(attributes):
            value = attrs.get(name)
            for v in value if isinstance(value, list) else [value]:
                if v in col:
                    has[i, col[v]] = 1
        out += (wanted @ has.T) > 0
    return out / np.maximum(named, 1)[:, None]
