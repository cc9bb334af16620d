"""Rewards for a model that writes a schema's JSON: a validity gate, structure (20%) and content (80%).

The three layers of Denali's GRPO reward, for any vestis schema:

1. **gate**: the answer must be one JSON object (surrounding whitespace allowed, nothing else: no
   code fence, no prose); anything else scores 0, whatever it holds.
2. **structure** (weight :data:`STRUCTURE_WEIGHT`): the share of the schema's fields written under
   their exact key with a value of the right JSON type (a single or text field a string, a multi
   field a list of strings; null where the field is nullable, and for a multi field), with every
   key the schema does not have counted as one more miss.
3. **content** (weight :data:`CONTENT_WEIGHT`): per field the credit of the value, averaged with the
   schema's field weights over the fields the target *knows*. A target key holding null (None, [],
   "N/A", ...) says the attribute is absent: null earns 1, any value 0. A field the target leaves
   out is unknown and is skipped. Where the target has a value, a null or missing answer earns 0;
   otherwise the credit is

   - single field: 1 for the value as the schema spells it, :data:`SPELLING_CREDIT` for another
     spelling of it the schema knows (a synonym, other case or separators: "Navy Blue" for
     ``navy``), :data:`SIBLING_CREDIT` for another value under the same parent value (``blouse``
     for ``shirt``: both tops), else 0;
   - multi field: a soft F1 of the two sets, each right item counting 1 (or the spelling credit);
   - text field: 1 when equal ignoring case and spacing, else :data:`SPELLING_CREDIT` times the
     rapidfuzz ratio of the two texts;
   - a null target: 1 for JSON null (or [] for a multi field, or a missing key), the spelling credit
     for a null word ("N/A", "none") the validator would have to repair.

   With no known field in the target, content is the structure score (the reward is then structure).

``reward = gate × (STRUCTURE_WEIGHT × structure + CONTENT_WEIGHT × content)``, in [0, 1].

Two forms of each: plain functions of ``(schema, completion[, target])`` returning a float, and
functions with trl's reward signature ``(completions, **columns) -> list[float]`` that read
``target`` and ``schema`` from the dataset's columns (``target`` a dict or its JSON text, ``schema``
a preset name, a file path or a :class:`~vestis.schema.Schema`), so anyone's trl run can import
them. :func:`reward_functions` binds a schema instead and returns the structure and content rewards
with trl's weights (trl then logs each one's mean).

>>> from vestis.schema import load_schema
>>> s = load_schema("florence")
>>> target = {"category": "top", "color": "navy"}
>>> round(schema_reward(s, '{"category": "top", "color": "navy"}', target), 4)  # 2 of 5 keys
0.88
>>> schema_reward(s, '```json {"category": "top"} ```', target)
0.0
>>> rewards = schema_rewards(["not json", '{"category": "top"}'], target=[target, target], schema="florence")
>>> [round(r, 2) for r in rewards]
[0.0, 0.44]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from vestis.schema import Schema, load_schema
from vestis.schema.model import Field, is_null_word, normalise_token

STRUCTURE_WEIGHT = 0.2
CONTENT_WEIGHT = 0.8
SPELLING_CREDIT = 0.75
SIBLING_CREDIT = 0.25

Completion = str | list[dict[str, Any]]
RewardFunc = Callable[..., list[float]]


# ---- the plain form ----------------------------------------------------------------------------
def parse_answer(completion: Completion) -> dict[str, Any] | None:
    """The JSON object the answer is, or None (the gate): strict JSON, whitespace around allowed."""
    try:
        obj = json.loads(completion_text(completion).strip())
    except (json.JSONDecodeError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def structure_score(schema: Schema, completion: Completion | dict[str, Any]) -> float:
    """Share of fields under their exact key with a value of the right type; 0 behind the gate."""
    obj = completion if isinstance(completion, dict) else parse_answer(completion)
    if obj is None:
        return 0.0
    right = sum(name in obj and _right_type(f, obj[name]) for name, f in schema.fields.items())
    extra = sum(key not in schema.fields for key in obj)
    return right / (len(schema.fields) + extra)


def content_score(
    schema: Schema, completion: Completion | dict[str, Any], target: dict[str, Any] | str
) -> float | None:
    """Field-weighted credit over the fields ``target`` knows; None when it knows none (or their
    weights are all 0); 0 behind the gate."""
    known = _known(schema, target)
    total = sum(schema.fields[name].weight for name in known)
    if not total:
        return None
    obj = completion if isinstance(completion, dict) else parse_answer(completion)
    if obj is None:
        return 0.0
    answer = _by_field(schema, obj)
    return (
        sum(
            schema.fields[n].weight * field_credit(schema.fields[n], answer.get(n), g)
            for n, g in known.items()
        )
        / total
    )


def schema_reward(schema: Schema, completion: Completion, target: dict[str, Any] | str) -> float:
    """``gate × (0.2 structure + 0.8 content)``; content is the structure score when the target
    knows no field."""
    obj = parse_answer(completion)
    if obj is None:
        return 0.0
    structure = structure_score(schema, obj)
    content = content_score(schema, obj, target)
    return STRUCTURE_WEIGHT * structure + CONTENT_WEIGHT * (structure if content is None else content)


def field_credit(f: Field, answer: Any, target: Any) -> float:
    """The credit of one field's answer against a known target value (see the module docstring)."""
    if _is_null(target):
        if answer is None or (f.kind == "multi" and answer == []):
            return 1.0
        return SPELLING_CREDIT if _is_null(answer) else 0.0
    if _is_null(answer):
        return 0.0
    if f.kind == "multi":
        if not isinstance(answer, list):
            return 0.0
        wanted = {_canonical(f, v) for v in (target if isinstance(target, list) else [target])}
        credits: dict[str, float] = {}
        written = 0
        for item in answer:
            if _is_null(item):
                continue
            written += 1
            value = _canonical(f, item) if isinstance(item, str) else None
            if value in wanted and value not in credits:
                credits[value] = 1.0 if item == value else SPELLING_CREDIT
        return 2 * sum(credits.values()) / (len(wanted) + written)
    if not isinstance(answer, str):
        return 0.0
    if f.kind == "text":
        gold, said = " ".join(str(target).lower().split()), " ".join(answer.lower().split())
        if gold == said:
            return 1.0
        from rapidfuzz import fuzz

        return SPELLING_CREDIT * fuzz.ratio(gold, said) / 100
    gold = _canonical(f, target)
    value = f.canonical(answer)
    if value == gold:
        return 1.0 if answer == gold else SPELLING_CREDIT
    if value is not None and f.parent is not None:
        parent = f.values[gold].parent if gold in f.values else None
        if parent is not None and f.values[value].parent == parent:
            return SIBLING_CREDIT
    return 0.0


# ---- trl's form --------------------------------------------------------------------------------
def structure_rewards(completions: Sequence[Completion], schema: Any, **_: Any) -> list[float]:
    """trl reward: :func:`structure_score` per completion; ``schema`` a column or one schema."""
    return [
        structure_score(s, c) for c, s in zip(completions, _schemas(schema, len(completions)), strict=True)
    ]


def content_rewards(
    completions: Sequence[Completion], target: Sequence[Any], schema: Any, **_: Any
) -> list[float]:
    """trl reward: :func:`content_score` per completion (the structure score where the target
    knows no field, as in :func:`schema_reward`)."""
    out = []
    for c, t, s in zip(completions, target, _schemas(schema, len(completions)), strict=True):
        content = content_score(s, c, t)
        out.append(structure_score(s, c) if content is None else content)
    return out


def schema_rewards(
    completions: Sequence[Completion], target: Sequence[Any], schema: Any, **_: Any
) -> list[float]:
    """trl reward: :func:`schema_reward` per completion, the three layers in one number."""
    schemas = _schemas(schema, len(completions))
    return [schema_reward(s, c, t) for c, t, s in zip(completions, target, schemas, strict=True)]


def reward_functions(schema: Schema | str) -> tuple[list[RewardFunc], list[float]]:
    """``([structure, content], [0.2, 0.8])`` bound to ``schema``: trl's ``reward_funcs`` and
    ``reward_weights``. Both are gated, so their weighted sum is :func:`schema_reward`."""
    bound = schema if isinstance(schema, Schema) else load_schema(schema)

    def json_structure(completions: Sequence[Completion], **columns: Any) -> list[float]:
        return structure_rewards(completions, bound)

    def field_content(
        completions: Sequence[Completion], target: Sequence[Any], **columns: Any
    ) -> list[float]:
        return content_rewards(completions, target, bound)

    return [json_structure, field_content], [STRUCTURE_WEIGHT, CONTENT_WEIGHT]


def completion_text(completion: Completion) -> str:
    """The text of a completion: a string, or trl's conversational ``[{"role": "assistant", ...}]``."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
            )
    return "".join(parts)


# ---- helpers -----------------------------------------------------------------------------------
def _schemas(schema: Any, n: int) -> list[Schema]:
    if isinstance(schema, (list, tuple)):
        if len(schema) != n:
            raise ValueError(f"{len(schema)} schemas for {n} completions")
        return [s if isinstance(s, Schema) else load_schema(s) for s in schema]
    one = schema if isinstance(schema, Schema) else load_schema(schema)
    return [one] * n


def _known(schema: Schema, target: dict[str, Any] | str) -> dict[str, Any]:
    """The target's fields by canonical name; a key the schema does not have is a caller's bug."""
    data = json.loads(target) if isinstance(target, str) else target
    out = {}
    for key, value in data.items():
        name = schema.field_name(str(key))
        if name is None:
            raise ValueError(f"target field {key!r} is not in schema {schema.name!r}")
        out[name] = value
    return out


def _by_field(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """The answer's values by field: the exact key, else the first key that spells the field."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if key in schema.fields else schema.field_name(str(key))
        if name is not None and (name not in out or key == name):
            out[name] = value
    return out


def _right_type(f: Field, value: Any) -> bool:
    if value is None:
        return f.nullable or f.kind == "multi"
    if f.kind == "multi":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _is_null(value: Any) -> bool:
    return value == [] or (isinstance(value, (str, type(None))) and is_null_word(value))


def _canonical(f: Field, value: Any) -> str:
    text = str(value)
    return f.canonical(text) or normalise_token(text)


__all__ = [
    "CONTENT_WEIGHT",
    "SIBLING_CREDIT",
    "SPELLING_CREDIT",
    "STRUCTURE_WEIGHT",
    "completion_text",
    "content_rewards",
    "content_score",
    "field_credit",
    "parse_answer",
    "reward_functions",
    "schema_reward",
    "schema_rewards",
    "structure_rewards",
    "structure_score",
]
