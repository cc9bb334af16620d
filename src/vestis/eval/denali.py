"""The Denali benchmark's measures: null-aware structured match, the 60/25/10/5 composite, the weighted
score with the schema's field weights, and consistency across repeated runs.

Every measure is per field, over the examples where the field is *annotated* (its key is in the
labels, the value possibly null). Values compare null-aware: None, [] and every null spelling the
schema knows ("N/A", "none", "not visible", "unknown", "-", "", ...) are one null; strings compare
through the schema's normalisation (case, separators, synonyms of closed fields); sets as sets.

* **presence rate**: where the label has a value, the share of predictions that have one too;
  **null rate**: where the label is null, the share of predictions that say null.
* **value accuracy** (the *structured match*): the share of annotated examples whose prediction
  equals the label, null equal to null.
* **similarities** of the value texts (closed values by name, "three_quarter" → "three quarter";
  sets joined by ", "): MiniLM sentence-embedding cosine (clipped to [0, 1]), rapidfuzz token-set
  ratio and ROUGE-L. Both null scores 1, exactly one null scores 0.
* **composite** = :data:`COMPOSITE_WEIGHTS` · (value accuracy, embedding, token-set, ROUGE-L),
  per field; the **weighted score** averages it over labelled fields with the schema's field
  weights (the ``denali`` preset: type 2.5, defect 2.0, brand 1.5, size 1.5, others 1.0).

>>> from vestis.schema import Schema
>>> f = Schema.from_dict({"name": "s", "fields": {"colour": {"values": ["red", "navy"]}}}).fields["colour"]
>>> structured_match(f, [{"colour": "red"}, {"colour": None}], [{"colour": "Red"}, {"colour": "N/A"}])
{'annotated': 2, 'presence_rate': 1.0, 'null_rate': 1.0, 'value_accuracy': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vestis.eval.metrics import embedding_cosine, is_null, rouge_l, token_set_ratio
from vestis.schema.model import normalise_token

if TYPE_CHECKING:
    from vestis.schema import Field, Schema

Labels = dict[str, Any]
Similarity = Callable[[Sequence[str], Sequence[str]], Sequence[float]]

#: Weights of the per-field composite, as the Denali benchmark defines it: 60% structured match
#: (null-aware value accuracy), 25% sentence-embedding similarity (all-MiniLM-L6-v2), 10% token-set
#: ratio (rapidfuzz), 5% ROUGE-L. They sum to 1, so the composite lies in [0, 1].
COMPOSITE_WEIGHTS: dict[str, float] = {
    "value_accuracy": 0.60,
    "embedding_similarity": 0.25,
    "token_set_ratio": 0.10,
    "rouge_l": 0.05,
}


def normalised(f: Field, value: Any) -> Any:
    """The comparison key of a value: None for any null, a frozenset for sets, else a normal form."""
    if is_null(value):
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        items = frozenset(normalised(f, v) for v in value) - {None}
        return items or None
    text = str(value)
    return (f.canonical(text) if f.closed else None) or normalise_token(text)


def value_text(f: Field, value: Any) -> str | None:
    """The text the similarity measures compare: None for null, closed values by readable name."""
    key = normalised(f, value)
    if key is None:
        return None
    if isinstance(key, frozenset):
        return ", ".join(sorted(k.replace("_", " ") for k in key))
    return key.replace("_", " ") if f.closed else " ".join(str(value).split())


def annotated(f: Field, golds: Sequence[Labels], preds: Sequence[Labels]) -> list[tuple[Any, Any]]:
    """(gold, prediction) pairs of the examples whose labels have the field's key."""
    return [(g[f.name], p.get(f.name)) for g, p in zip(golds, preds, strict=True) if f.name in g]


def structured_match(f: Field, golds: Sequence[Labels], preds: Sequence[Labels]) -> dict[str, Any]:
    """Presence rate, null rate and null-aware value accuracy of one field (None where undefined)."""
    pairs = [(normalised(f, g), normalised(f, p)) for g, p in annotated(f, golds, preds)]
    labelled = [p for g, p in pairs if g is not None]
    unlabelled = [p for g, p in pairs if g is None]
    return {
        "annotated": len(pairs),
        "presence_rate": _mean([p is not None for p in labelled]),
        "null_rate": _mean([p is None for p in unlabelled]),
        "value_accuracy": _mean([g == p for g, p in pairs]),
    }


def similarities(
    f: Field, golds: Sequence[Labels], preds: Sequence[Labels], similarity: Similarity | None = None
) -> dict[str, float | None]:
    """Mean embedding, token-set and ROUGE-L similarity of the value texts (both null 1, one null 0).

    ``similarity`` maps gold and predicted texts to cosines (default: MiniLM); pass None to leave
    ``embedding_similarity`` out (None).
    """
    texts = [(value_text(f, g), value_text(f, p)) for g, p in annotated(f, golds, preds)]
    if not texts:
        return {"embedding_similarity": None, "token_set_ratio": None, "rouge_l": None}
    both = sorted({(g, p) for g, p in texts if g is not None and p is not None})
    cosine: dict[tuple[str, str], float] = {}
    if similarity is not None and both:
        sims = similarity([g for g, _ in both], [p for _, p in both])
        cosine = {pair: min(1.0, max(0.0, float(s))) for pair, s in zip(both, sims, strict=True)}

    def score(measure: Callable[[str, str], float]) -> float:
        return float(np.mean([_pair(g, p, measure) for g, p in texts]))

    return {
        "embedding_similarity": score(lambda g, p: cosine[g, p]) if similarity is not None else None,
        "token_set_ratio": score(token_set_ratio),
        "rouge_l": score(rouge_l),
    }


def composite(measures: dict[str, Any]) -> float | None:
    """:data:`COMPOSITE_WEIGHTS` applied to a field's measures; None when one of them is missing."""
    if any(measures.get(k) is None for k in COMPOSITE_WEIGHTS):
        return None
    return sum(w * measures[k] for k, w in COMPOSITE_WEIGHTS.items())


def field_measures(
    f: Field, golds: Sequence[Labels], preds: Sequence[Labels], embeddings: bool = False
) -> dict[str, Any]:
    """Every Denali measure of one field, composite included (None without ``embeddings``)."""
    out: dict[str, Any] = structured_match(f, golds, preds)
    out.update(similarities(f, golds, preds, embedding_cosine if embeddings else None))
    out["composite"] = composite(out)
    return out


def weighted_score(schema: Schema, per_field: dict[str, dict[str, Any]], metric: str = "composite") -> Any:
    """``metric`` of the labelled fields (support > 0) averaged with the schema's field weights.

    ``per_field`` maps field names to dicts with ``support`` and ``metric``; None when no labelled
    field has the metric.
    """
    scored = [
        (schema.fields[name].weight, m[metric])
        for name, m in per_field.items()
        if m.get("support") and m.get(metric) is not None
    ]
    total = sum(w for w, _ in scored)
    return sum(w * v for w, v in scored) / total if total else None


def run_measures(schema: Schema, per_field: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run-level Denali numbers from per-field results holding a ``denali`` dict each."""
    labelled = {
        name: {"support": m.get("support"), **m["denali"]} for name, m in per_field.items() if "denali" in m
    }
    composites = [m["composite"] for m in labelled.values() if m["support"] and m["composite"] is not None]
    return {
        "weighted_score": weighted_score(schema, labelled),
        "composite": float(np.mean(composites)) if composites else None,
        "weights": dict(COMPOSITE_WEIGHTS),
    }


def consistency(schema: Schema, runs: Sequence[Sequence[Labels]]) -> dict[str, Any]:
    """Share of examples whose value is identical in every run, per field and for the whole object.

    ``runs`` holds one list of predicted objects per repetition, aligned by example.
    """
    if len(runs) < 2:
        raise ValueError("consistency needs at least two runs")
    n = len(runs[0])
    if any(len(r) != n for r in runs):
        raise ValueError("every run must predict the same examples")
    same = {
        name: [len({normalised(f, run[i].get(name)) for run in runs}) == 1 for i in range(n)]
        for name, f in schema.fields.items()
    }
    every = [all(same[name][i] for name in same) for i in range(n)]
    return {
        "repeats": len(runs),
        "n": n,
        "all_fields": _mean(every),
        "fields": {name: _mean(s) for name, s in same.items()},
    }


def _pair(gold: str | None, pred: str | None, measure: Callable[[str, str], float]) -> float:
    if gold is None or pred is None:
        return float(gold is None and pred is None)
    return measure(gold, pred)


def _mean(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


__all__ = [
    "COMPOSITE_WEIGHTS",
    "annotated",
    "composite",
    "consistency",
    "field_measures",
    "normalised",
    "run_measures",
    "similarities",
    "structured_match",
    "value_text",
    "weighted_score",
]
