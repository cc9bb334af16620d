"""``lite``: attribute extraction with the embedded vestis-lite model (the default backend).

How each field of the requested schema is answered, decided once per schema:

* **head**: a trained head whose values map onto the field's vocabulary through value
  names and synonyms (identity for the training schema; ``footwear`` → florence
  ``shoes``). Probability mass on head values with no counterpart lowers confidence.
* **zero-shot**: the text tower scores the field's values, when enough of them use
  words seen in training captions (so new vocabularies work without retraining).
* **none**: free-text fields and vocabularies the model never saw (brand, size,
  defects) come back null with confidence 0, never invented.

Confidences are calibrated (per-field temperature); below the threshold a field is
null. Fields whose ``applies_to`` rules them out (the neckline of a shoe) are null.

True or null, never a constant guess: a head the model's config marks ``disabled`` (no reliable
signal on held-out data: too few training labels, no better than the majority guess) answers
nothing, and a field it alone could answer is planned "none". ``value_thresholds`` gate single
values: a multi-label field asserts a value only above its own threshold (so ``[]`` is an
answer), a weak single head says a value only where it beats guessing the most common one.
``worn_disabled`` heads do the same on garments cropped from photos of people
(:meth:`unreliable_on_worn`, applied by :class:`vestis.extract.items.ItemExtractor`).
A head answers the schema field of its own name and no other field of that schema (a secondary
colour is not the colour head's answer again), and a ``secondary_colour`` field is never scored
zero-shot (the text tower sees the whole image and names its dominant colour).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vestis.errors import OptionsError
from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.extract.labels import label_reader_for
from vestis.schema import Field, Schema, load_schema

log = logging.getLogger(__name__)
LABEL_THRESHOLD = 0.5  # confidence below which a brand or size read from a label stays null
MIN_ZERO_SHOT_KNOWN = 0.5  # fraction of a field's values whose words the text tower saw in training


@dataclass
class FieldPlan:
    kind: str  # "head" | "zero_shot" | "none"
    head: str | None = None
    matrix: np.ndarray | None = None  # head values × field values (0/1), for "head"
    text: np.ndarray | None = None  # field values × embed_dim, for "zero_shot"
    gates: np.ndarray | None = None  # per field value: threshold to assert it (inf: never)
    reason: str = ""  # why a field is planned "none"


def _map_value(target: Field, value: Any) -> str | None:
    for spelling in (value.name, value.text, *value.synonyms):
        hit = target.canonical(spelling)
        if hit:
            return hit
    return None


def head_matrix(target: Field, source: Field, head_vocab: list[str]) -> tuple[np.ndarray, float]:
    """0/1 matrix from head values to target values, and the share of head values that map."""
    m = np.zeros((len(head_vocab), len(target.values)), dtype=np.float32)
    index = {v: i for i, v in enumerate(target.values)}
    for i, name in enumerate(head_vocab):
        hit = _map_value(target, source.values[name]) if name in source.values else target.canonical(name)
        if hit:
            m[i, index[hit]] = 1.0
    mapped = float(m.sum(axis=1).astype(bool).mean()) if len(head_vocab) else 0.0
    distinct = int(m.sum(axis=0).astype(bool).sum())
    return m, (mapped if distinct >= 2 else 0.0)


@EXTRACTORS.register("lite")
class LiteExtractor(Extractor):
    """vestis-lite: trained attribute heads plus zero-shot scoring (the default; offline, CPU).

    Options: ``model`` (directory; default the shipped one),
    ``zero_shot`` ("auto" | "all" | "off"), ``threshold`` (override every field's null threshold),
    ``runtime`` ("auto": ONNX Runtime when installed, exported once into the vestis cache, else torch;
    "onnx"; "torch"), ``threads``, ``batch_size``, ``labels``: brand and size read off label text
    with OCR, when the schema has a ``brand`` or ``size`` role and rapidocr is installed — "auto"
    on the photos after the first of an item (front, then back and care label: OCR costs ~50× a
    forward pass, and a product shot's prints are no label), "on" on every photo, "off".
    Its embeddings are the ``lite`` embedder's."""

    name = "lite"
    multi_image = True  # one forward pass over an item's photos; the label reader sees the later ones

    def __init__(
        self,
        schema: Schema,
        model: Any = None,
        zero_shot: str = "auto",
        threshold: float | None = None,
        runtime: str = "auto",
        threads: int | None = None,
        batch_size: int = 32,
        labels: str = "auto",
    ) -> None:
        super().__init__(schema)
        from vestis.models.lite_runtime import lite_runtime

        if zero_shot not in ("auto", "all", "off"):
            raise OptionsError(f"zero_shot must be auto, all or off, not {zero_shot!r}")
        if batch_size < 1:
            raise OptionsError("batch_size must be at least 1")
        if threshold is not None and threshold < 0:
            raise OptionsError("threshold must be a confidence of 0 or more (above 1: every field null)")
        self.runtime = lite_runtime(model, runtime, threads)
        self.model = self.runtime.model
        self.config = self.model.config
        self.batch_size = batch_size
        self.threshold = threshold
        self.zero_shot = zero_shot
        self.plans = self._plan()
        self.labels = label_reader_for(schema, labels)
        self.label_mode = labels

    @property
    def embedding_model_id(self) -> str:
        return self.runtime.model_id

    def unreliable_on_worn(self) -> dict[str, str]:
        """Fields answered by a head the model's config marks unreliable on worn garments."""
        worn = self.config.worn_disabled
        return {
            name: f"head {plan.head!r} on worn garments: {worn[plan.head]}"
            for name, plan in self.plans.items()
            if plan.kind == "head" and plan.head in worn
        }

    # ---- planning ----------------------------------------------------------------------------
    def _plan(self) -> dict[str, FieldPlan]:
        training = load_schema(self.config.schema)
        vocab = set(self.config.caption_vocabulary)
        plans: dict[str, FieldPlan] = {}
        pending_text: dict[str, list[str]] = {}
        secondary = self.schema.by_role("secondary_colour")
        for f in self.schema.fields.values():
            if not f.closed:
                plans[f.name] = FieldPlan("none", reason="free text")
                continue
            best: tuple[float, str, np.ndarray] | None = None
            disabled: list[str] = []
            for head, head_vocab in self.config.heads.items():
                if head not in self.config.multi and f.kind == "multi":
                    continue  # a multi field needs per-value probabilities; a single one takes either
                if head != f.name and head in self.schema.fields:
                    continue  # the head answers its own field of this schema, not a second one
                m, share = head_matrix(f, training.fields[head], head_vocab)
                same_kind = (head in self.config.multi) == (f.kind == "multi")
                score = share + (0.01 if head == f.name else 0.0) - (0.0 if same_kind else 0.5)
                if share >= 0.5 and head in self.config.disabled:
                    disabled.append(f"head {head!r} disabled: {self.config.disabled[head]}")
                    continue
                if share >= 0.5 and (best is None or score > best[0]):
                    best = (score, head, m)
            if best:
                gates = self._gates(best[1], best[2])
                plans[f.name] = FieldPlan("head", head=best[1], matrix=best[2], gates=gates)
            elif disabled:
                plans[f.name] = FieldPlan("none", reason="; ".join(disabled))
            elif secondary is not None and f.name == secondary.name:
                reason = "no head for a second colour; zero-shot would name the first"
                plans[f.name] = FieldPlan("none", reason=reason)
            elif self.zero_shot != "off" and (
                self.zero_shot == "all" or _known_share(f, vocab) >= MIN_ZERO_SHOT_KNOWN
            ):
                pending_text[f.name] = [f"{f.name.replace('_', ' ')}: {v.text}" for v in f.values.values()]
                plans[f.name] = FieldPlan("zero_shot")
            else:
                plans[f.name] = FieldPlan("none", reason="no head and no zero-shot vocabulary")
            if plans[f.name].kind == "none" and f.closed:
                log.info("lite: field %r comes back null (%s)", f.name, plans[f.name].reason)
        if pending_text:
            for name, phrases in pending_text.items():
                plans[name].text = self.runtime.embed_texts(phrases)
        return plans

    def _gates(self, head: str, matrix: np.ndarray) -> np.ndarray | None:
        """Per field value, the threshold to assert it from the head's value thresholds (the lowest
        among the head values mapping to it; -inf: the field threshold; inf: never), or None."""
        table = self.config.value_thresholds.get(head)
        if table is None:
            return None
        per_head = np.array(
            [np.inf if table.get(v, 0) is None else table.get(v, -np.inf) for v in self.config.heads[head]],
            dtype=np.float64,
        )
        return np.where(matrix > 0, per_head[:, None], np.inf).min(axis=0)

    # ---- extraction ---------------------------------------------------------------------------
    def _extract_items(self, items: list[list[Image.Image]]) -> list[Extraction]:
        """Several photos of each item in one forward pass, fused front-first; with ``labels="auto"``
        the label reader looks at the photos after the first (where a care or brand label is)."""
        flat = [im for photos in items for im in photos]
        read = [
            self.label_mode == "on" or (self.label_mode == "auto" and j > 0)
            for ph in items
            for j in range(len(ph))
        ]
        parts = self._extract_batch(flat, read_labels=read)
        out, at = [], 0
        for photos in items:
            out.append(self._fuse(parts[at : at + len(photos)]))
            at += len(photos)
        return out

    def _extract_batch(
        self, images: list[Image.Image], read_labels: list[bool] | None = None
    ) -> list[Extraction]:
        if read_labels is None:  # single photos: labels are read only when asked for ("on")
            read_labels = [self.label_mode == "on"] * len(images)
        emb, logits = self.runtime.forward(images)
        probs = {k: self._calibrated(k, v) for k, v in logits.items()}
        zs_scale = float(np.exp(self.model.logit_scale.detach().numpy()))
        results = []
        for i in range(len(images)):
            attrs, conf = self.schema.empty(), {}
            field_probs: dict[str, np.ndarray] = {}
            for name, plan in self.plans.items():
                f = self.schema.fields[name]
                if plan.kind == "none":
                    conf[name] = 0.0
                elif plan.kind == "head" and (f.kind == "multi" or plan.head in self.config.multi):
                    # per-value probabilities (a single field from a multi head: its likeliest value)
                    field_probs[name] = (probs[plan.head][i][:, None] * plan.matrix).max(axis=0)
                elif plan.kind == "head":
                    field_probs[name] = probs[plan.head][i] @ plan.matrix
                else:
                    field_probs[name] = _softmax(zs_scale * (plan.text @ emb[i]))
            decided = self._decide_hierarchy(field_probs)
            for name, p in field_probs.items():
                attrs[name], conf[name] = decided.get(name) or self._decide(
                    self.schema.fields[name], p, self.plans[name].gates
                )
            for name, f in self.schema.fields.items():  # rule out fields that do not apply
                if f.applies_to and not f.applies(attrs):
                    attrs[name], conf[name] = ([] if f.kind == "multi" else None), 0.0
            if self.labels is not None and read_labels[i]:
                self._read_label(images[i], attrs, conf)
            result = self.from_raw(attrs, conf)
            result.embedding = emb[i]
            results.append(result)
        return results

    def _read_label(self, image: Image.Image, attrs: dict[str, Any], conf: dict[str, float]) -> None:
        """Brand and size from the text on the photo (a care or brand label), when OCR reads them."""
        from vestis.extract.labels import read_brand, read_size

        lines = self.labels.read(image)
        for role, read in (("brand", read_brand), ("size", read_size)):
            f = self.schema.by_role(role)
            if f is None or not lines:
                continue
            value, c = read(lines)
            if value is not None and f.closed:
                value = f.canonical(value)
            if value is not None and c >= LABEL_THRESHOLD:
                attrs[f.name] = [value] if f.kind == "multi" else value[: f.max_length]
                conf[f.name] = c

    def _decide_hierarchy(self, field_probs: dict[str, np.ndarray]) -> dict[str, tuple[Any, float]]:
        """Child and parent fields (type → category) decided jointly, so they never contradict.

        The pair maximising p(parent) · p(child) among pairs the schema allows wins; each keeps
        its own probability as confidence and its own null threshold.
        """
        out: dict[str, tuple[Any, float]] = {}
        for f in self.schema.fields.values():
            if f.kind != "single" or not f.parent or f.name not in field_probs or f.parent not in field_probs:
                continue
            parent = self.schema.fields[f.parent]
            pc, pt = field_probs[f.parent], field_probs[f.name]
            parents = list(parent.values)
            best, best_score = None, -1.0
            for j, value in enumerate(f.values.values()):
                if value.parent in parent.values:
                    score = pc[parents.index(value.parent)] * pt[j]
                    if score > best_score:
                        best, best_score = (j, parents.index(value.parent)), score
            if best is None:
                continue
            j, k = best
            out[f.parent] = self._threshold_value(parent, parents[k], float(pc[k]))
            if out[f.parent][0] is None:  # unsure of the category: the type cannot be asserted either
                out[f.name] = (None, float(pt[j]))
            else:
                out[f.name] = self._threshold_value(f, list(f.values)[j], float(pt[j]))
        return out

    def _threshold_value(self, f: Field, value: str, confidence: float) -> tuple[Any, float]:
        threshold = self.threshold if self.threshold is not None else self.config.threshold(f.name)
        return (value if confidence >= threshold else None), confidence

    def _calibrated(self, head: str, logits: np.ndarray) -> np.ndarray:
        t = self.config.temperatures.get(head, 1.0)
        if head in self.config.multi:
            return 1.0 / (1.0 + np.exp(-logits / t))
        return _softmax(logits / t, axis=1)

    def _decide(self, f: Field, p: np.ndarray, gates: np.ndarray | None = None) -> tuple[Any, float]:
        """A field's answer and confidence; ``gates`` (per value) must also be met to assert a value.
        A multi field's confidence is its likeliest assertable value's probability."""
        threshold = self.threshold if self.threshold is not None else self.config.threshold(f.name)
        values = list(f.values)
        if f.kind == "multi":
            floor = max(threshold, 0.5)
            need = np.full(len(p), floor) if gates is None else np.maximum(gates, floor)
            chosen = [values[j] for j in np.flatnonzero(p >= need)]
            allowed = p[np.isfinite(need)]
            return chosen, float(allowed.max()) if len(allowed) else 0.0
        j = int(np.argmax(p))
        c = float(p[j])
        need = threshold if gates is None else max(threshold, float(gates[j]))
        return (values[j] if c >= need else None), c


STOPWORDS = frozenset({"a", "an", "and", "the", "of", "on", "in", "no", "not", "other", "up", "with"})


def _known_share(f: Field, vocab: set[str]) -> float:
    """Share of a field's values whose name the text tower saw in training captions (every content
    word of the name): zero-shot scoring of values it never read would be guessing."""
    if not vocab:
        return 0.0
    known = 0
    for v in f.values.values():
        words = set(v.name.lower().replace("_", " ").replace("-", " ").split()) - STOPWORDS
        known += bool(words) and words <= vocab
    return known / len(f.values)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)
