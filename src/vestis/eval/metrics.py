"""Extraction metrics: pure functions over gold and predicted attribute objects.

Conventions, used everywhere below:

* A gold label is *present* for a field when the key is in the example's labels and its
  value is not null: None, [], or a null spelling the schema knows ("", "N/A", "none",
  "not visible", "unknown", ...; :func:`vestis.schema.model.is_null_word`). Mapped datasets
  write [] for a multi field when no source matched, which means "unknown" far more often
  than "none of these"; scoring it would reward backends for predicting nothing. Presence
  agreement still counts those examples.
* A missing or null prediction is simply wrong where gold is present; it is never a class
  of its own in F1 (so abstaining costs recall, not precision).
* Multi-field values compare as sets; text values compare case- and space-insensitively.

>>> macro_f1(["red", "red", "blue"], ["red", "blue", "blue"])
0.6666666666666666
>>> round(rouge_l("a navy wool coat", "navy coat"), 3)
0.667
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from vestis.schema.model import is_null_word

if TYPE_CHECKING:
    from vestis.schema import Field, Schema

Labels = dict[str, Any]
_WORD = re.compile(r"\w+")


# ---- single values ----------------------------------------------------------------------------
def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Fraction of exact matches (lists compare as sets); 0.0 for no pairs."""
    if not gold:
        return 0.0
    return sum(_key(g) == _key(p) for g, p in zip(gold, pred, strict=True)) / len(gold)


def macro_f1(gold: Sequence[Hashable], pred: Sequence[Hashable | None]) -> float:
    """Mean per-class F1 over the classes present in gold ∪ pred (None is not a class)."""
    classes = {g for g in gold if g is not None} | {p for p in pred if p is not None}
    if not classes:
        return 0.0
    scores = []
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(p == c and g != c for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def confusion_matrix(
    gold: Sequence[Hashable], pred: Sequence[Hashable], labels: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, list[Hashable]]:
    """Counts with gold in rows and prediction in columns, and the label order used.

    ``labels`` defaults to every value seen, sorted by gold frequency; pairs with a value
    outside ``labels`` are left out (collapse rare values first to keep them).
    """
    if labels is None:
        freq = Counter(gold)
        freq.update({p: 0 for p in pred})
        labels = sorted(freq, key=lambda v: (-freq[v], str(v)))
    index = {v: i for i, v in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            matrix[index[g], index[p]] += 1
    return matrix, list(labels)


# ---- sets -------------------------------------------------------------------------------------
def set_f1(gold: Sequence[Iterable[Hashable]], pred: Sequence[Iterable[Hashable]]) -> dict[str, float]:
    """Micro, macro (per label) and sample-averaged F1 for set-valued predictions.

    Where gold and prediction are both empty everywhere, agreement is perfect (1.0).
    """
    gs = [set(g) for g in gold]
    ps = [set(p) for p in pred]
    tp = sum(len(g & p) for g, p in zip(gs, ps, strict=True))
    fp = sum(len(p - g) for g, p in zip(gs, ps, strict=True))
    fn = sum(len(g - p) for g, p in zip(gs, ps, strict=True))
    micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    labels = set().union(*gs, *ps) if gs else set()
    per_label = []
    for c in labels:
        ltp = sum(c in g and c in p for g, p in zip(gs, ps, strict=True))
        lfp = sum(c in p and c not in g for g, p in zip(gs, ps, strict=True))
        lfn = sum(c in g and c not in p for g, p in zip(gs, ps, strict=True))
        per_label.append(2 * ltp / (2 * ltp + lfp + lfn))
    macro = float(np.mean(per_label)) if per_label else 1.0
    samples = [2 * len(g & p) / (len(g) + len(p)) if g or p else 1.0 for g, p in zip(gs, ps, strict=True)]
    return {"micro_f1": micro, "macro_f1": macro, "samples_f1": float(np.mean(samples)) if samples else 0.0}


# ---- free text --------------------------------------------------------------------------------
def normalise_text(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def token_set_ratio(gold: str, pred: str | None) -> float:
    """rapidfuzz token-set ratio in [0, 1]; a missing prediction scores 0."""
    from rapidfuzz import fuzz

    if not pred:
        return 0.0
    return fuzz.token_set_ratio(normalise_text(gold), normalise_text(pred)) / 100.0


def rouge_l(gold: str, pred: str | None) -> float:
    """ROUGE-L F1 from the longest common subsequence of lowercase word tokens."""
    g, p = _WORD.findall((gold or "").lower()), _WORD.findall((pred or "").lower())
    if not g or not p:
        return float(g == p)
    lcs = _lcs_length(g, p)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


@lru_cache(maxsize=1)
def minilm_model() -> Any:
    """The bundled all-MiniLM-L6-v2 sentence encoder (loaded once, on CPU)."""
    from vestis.models.backbones import load_text_encoder  # the lite text tower's encoder, quietly

    return load_text_encoder()


def embedding_cosine(gold: Sequence[str], pred: Sequence[str | None]) -> list[float]:
    """Cosine similarity of MiniLM sentence embeddings per pair; a missing prediction scores 0."""
    if not gold:
        return []
    model = minilm_model()
    texts = [*gold, *(p or "" for p in pred)]
    vectors = np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64))
    sims = (vectors[: len(gold)] * vectors[len(gold) :]).sum(axis=1)
    return [float(s) if p else 0.0 for s, p in zip(sims, pred, strict=True)]


# ---- per field and per run --------------------------------------------------------------------
def null_aware_match(gold: Sequence[Any], pred: Sequence[Any]) -> dict[str, float | None]:
    """Presence agreement (both null or both non-null) and value accuracy where both are present."""
    if not gold:
        return {"presence_agreement": None, "value_accuracy": None}
    agree = sum(is_null(g) == is_null(p) for g, p in zip(gold, pred, strict=True)) / len(gold)
    both = [(g, p) for g, p in zip(gold, pred, strict=True) if not is_null(g) and not is_null(p)]
    value = accuracy([g for g, _ in both], [p for _, p in both]) if both else None
    return {"presence_agreement": agree, "value_accuracy": value}


def field_metrics(
    f: Field, golds: Sequence[Labels], preds: Sequence[Labels], embeddings: bool = False
) -> dict[str, Any]:
    """Every metric of one field over aligned gold and predicted objects."""
    keyed = [(g[f.name], p.get(f.name)) for g, p in zip(golds, preds, strict=True) if f.name in g]
    pairs = [(g, p) for g, p in keyed if not is_null(g)]
    out: dict[str, Any] = {
        "kind": f.kind,
        "weight": f.weight,
        "support": len(pairs),
        "label_rate": len(pairs) / len(golds) if golds else 0.0,
    }
    out.update(null_aware_match([g for g, _ in keyed], [p for _, p in keyed]))
    if not pairs:
        return out
    gold = [g for g, _ in pairs]
    pred = [([] if p is None else p) if f.kind == "multi" else p for _, p in pairs]
    out["coverage"] = sum(not is_null(p) for p in pred) / len(pred)
    if f.kind == "single":
        out["accuracy"] = accuracy(gold, pred)
        out["macro_f1"] = macro_f1(gold, pred)
    elif f.kind == "multi":
        out["accuracy"] = accuracy(gold, pred)
        out.update(set_f1(gold, pred))
    else:
        out["accuracy"] = accuracy([normalise_text(g) for g in gold], [normalise_text(p) for p in pred])
        out["token_set_ratio"] = float(np.mean([token_set_ratio(g, p) for g, p in pairs]))
        out["rouge_l"] = float(np.mean([rouge_l(g, p) for g, p in pairs]))
        if embeddings:
            out["embedding_cosine"] = float(np.mean(embedding_cosine(gold, pred)))
    return out


def weighted_score(per_field: dict[str, dict[str, Any]]) -> float | None:
    """Mean of per-field accuracy weighted by field weight, over fields with gold labels."""
    scored = [(m["weight"], m["accuracy"]) for m in per_field.values() if m.get("support")]
    total = sum(w for w, _ in scored)
    return sum(w * a for w, a in scored) / total if total else None


def valid_json_rates(records: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    """Share of backend outputs valid without repair (strict) and valid after repair, and of text
    outputs that parse as a JSON object at all (``parses``: syntax only, whatever the values).

    Records whose image failed to load are left out: the backend never saw them. Generative
    backends judge their raw text (``Extractor.from_raw``: ``valid_raw`` is a strict parse and
    validation against the schema, an ``output`` error a failure after repair) and the record
    keeps that text; ``text_outputs`` counts those records. Closed-set backends (lite, majority)
    write no text: their outputs are valid by construction, so 0 text outputs and 100% say just
    that (``parses`` is None for them).
    """
    seen = [r for r in records if r.get("error_kind") != "image"]
    texts = [r["raw"] for r in seen if isinstance(r.get("raw"), str)]
    if not seen:
        return {"strict": None, "after_repair": None, "parses": None, "text_outputs": 0}
    strict = sum(bool(r.get("valid_raw")) for r in seen) / len(seen)
    repaired = sum(r.get("error_kind") != "output" for r in seen) / len(seen)
    parses = sum(_json_object(t) for t in texts) / len(texts) if texts else None
    return {"strict": strict, "after_repair": repaired, "parses": parses, "text_outputs": len(texts)}


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def evaluate(
    schema: Schema, golds: Sequence[Labels], preds: Sequence[Labels], embeddings: bool = False
) -> dict[str, Any]:
    """Per-field metrics and the weighted field score for aligned gold and predicted objects."""
    per_field = {name: field_metrics(f, golds, preds, embeddings) for name, f in schema.fields.items()}
    return {"fields": per_field, "weighted_score": weighted_score(per_field)}


def is_null(value: Any) -> bool:
    """None, an empty set, or a null spelling of the schema ("N/A", "none", "not visible", "-", ...)."""
    return value == [] or is_null_word(value)


def _key(value: Any) -> Any:
    return frozenset(value) if isinstance(value, (list, set, tuple)) else value
