"""What ``lora-sft`` and ``grpo`` share: training examples from datasets, the model and its LoRA
adapter, validation through the ``vlm`` backend, and the merged export that backend loads.

The model is loaded, prompted and decoded by :class:`~vestis.extract.backends.vlm.VLMExtractor`
itself (``from_model`` wraps the model being trained), so training sees the prompt inference
sends, and validation is the extraction users get, constrained and free.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.data import Dataset, DatasetError, Example, open_dataset
from vestis.errors import OptionsError
from vestis.extract.grammar import answer_text
from vestis.schema import Schema
from vestis.schema.model import is_null_word
from vestis.train.vlm_config import VLMTuneConfig

if TYPE_CHECKING:
    from vestis.extract.backends.vlm import VLMExtractor

log = logging.getLogger(__name__)


@dataclass
class TuneExample:
    """One item to learn: its photos, the answer to write and what the labels know.

    ``known`` maps the fields the labels know to their value (null: the attribute is absent);
    ``answer`` is the whole object written as the grammar writes it, null where the field is unknown.
    """

    id: str
    photos: list[str]
    known: dict[str, Any]
    answer: str
    example: Example


def known_fields(schema: Schema, labels: dict[str, Any], null_labels: str) -> dict[str, Any]:
    """The fields ``labels`` know. A null label is unknown unless ``null_labels == "null"``; a field
    that a known value rules out (``applies_to``: the neckline of a shoe) is known to be null."""
    out: dict[str, Any] = {}
    for name, f in schema.fields.items():
        if name not in labels:
            continue
        value = labels[name]
        if value == [] or is_null_word(value):
            if null_labels == "null":
                out[name] = [] if f.kind == "multi" else None
        else:
            out[name] = value
    for name, f in schema.fields.items():
        if name not in out and f.applies_to and not f.applies(out):
            out[name] = [] if f.kind == "multi" else None
    return out


def tune_examples(
    examples: list[Example],
    schema: Schema,
    null_labels: str,
    silent_lists: bool = False,
    silent_fields: list[str] | None = None,
) -> tuple[list[TuneExample], dict[str, int]]:
    """Training examples and how many were left out, by reason (nothing known, a required field unknown);
    with ``silent_lists``, completed by :func:`silent_lists_known` (on ``silent_fields`` only, if given)."""
    out, skipped = [], {"no_known_field": 0, "required_field_unknown": 0}
    for ex in examples:
        known = known_fields(schema, ex.labels, null_labels)
        if not known:
            skipped["no_known_field"] += 1
            continue
        if any(
            not f.nullable and f.kind != "multi" and name not in known for name, f in schema.fields.items()
        ):
            skipped["required_field_unknown"] += 1
            continue
        several = ex.meta.get("photos")  # the photos of one item, as the teacher adapter keeps them
        photos = [str(p) for p in several] if isinstance(several, list) and several else [ex.image]
        out.append(TuneExample(ex.id, photos, known, answer_text(schema, {**schema.empty(), **known}), ex))
    if silent_lists:
        for source, names in silent_lists_known(schema, out, silent_fields).items():
            log.info("%s: %s trained as [] where its items are silent", source, ", ".join(names))
    return out, skipped


def silent_lists_known(
    schema: Schema, examples: list[TuneExample], fields: list[str] | None = None
) -> dict[str, list[str]]:
    """Make each multi field (of ``fields``, default all) that a source (dataset) labels on some of
    its examples known to be [] on its others, in place; returns, per source, the fields so completed."""
    multi = [name for name, f in schema.fields.items() if f.kind == "multi"]
    if fields:
        wrong = sorted(set(fields) - set(multi))
        if wrong:
            raise OptionsError(
                f"silent_lists_fields names {', '.join(wrong)}, not multi fields of schema {schema.name!r} "
                f"(those are: {', '.join(multi) or 'none'})"
            )
        multi = [name for name in multi if name in fields]
    labelled: dict[str, set[str]] = {}
    for ex in examples:
        labelled.setdefault(ex.example.source, set()).update(n for n in multi if ex.known.get(n))
    for ex in examples:
        for name in labelled[ex.example.source]:
            ex.known.setdefault(name, [])
    return {source: sorted(names) for source, names in labelled.items() if names}


def load_splits(
    cfg: VLMTuneConfig, schema: Schema, datasets: list[Dataset] | None = None
) -> tuple[list[Example], list[Example]]:
    """Train and validation examples of every dataset (``limit`` and ``val_limit`` per dataset)."""
    train: list[Example] = []
    val: list[Example] = []
    for ds in datasets or [open_dataset(spec, schema=schema) for spec in cfg.datasets]:
        train += ds.split("train", cfg.val_fraction)[: cfg.limit]
        val += ds.split("val", cfg.val_fraction)[: cfg.val_limit]
    if not train:
        raise DatasetError(f"no training examples in {', '.join(cfg.datasets)}")
    return train, val


# ---- the model -----------------------------------------------------------------------------------
def load_vlm(cfg: VLMTuneConfig, schema: Schema, model: str | None = None) -> VLMExtractor:
    """The ``vlm`` backend on the model to train (``model`` overrides ``cfg.model``; with neither,
    the backend says what it needs)."""
    from vestis.extract.base import load_extractor

    return load_extractor(  # batch norms unfolded: the trained model is saved in its own layout
        "vlm",
        schema,
        **extractor_options(cfg),
        model=model or cfg.model,
        device=cfg.device,
        dtype=cfg.dtype,
        fold_batch_norms=False,
    )


def extractor_options(cfg: VLMTuneConfig, constrained: bool = True) -> dict[str, Any]:
    options: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens, "constrained": constrained}
    if cfg.prompt:
        return options | {"prompt": cfg.prompt}
    return options | ({"prompt_style": cfg.prompt_style} if cfg.prompt_style else {})


def lora_targets(model: Any, vision: bool = False) -> list[str]:
    """Names of the linear layers LoRA adapts: every one of the language model (``get_decoder()``:
    for Florence-2 its text encoder and decoder), or with ``vision`` every one but the output layer."""
    import torch

    head = model.get_output_embeddings()
    if vision:
        scope = ""
    else:
        decoder = model.get_decoder()
        scope = next(name for name, module in model.named_modules() if module is decoder) + "."
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head and name.startswith(scope)
    ]


def lora_config(cfg: VLMTuneConfig, model: Any):
    """The peft ``LoraConfig`` of ``cfg`` for ``model``."""
    from peft import LoraConfig

    names = [name for name, _ in model.named_modules()]
    missing = [m for m in cfg.full_train if not any(n == m or n.endswith("." + m) for n in names)]
    if missing:
        raise OptionsError(f"full_train names modules the model does not have: {', '.join(missing)}")
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_targets(model, cfg.train_vision),
        modules_to_save=list(cfg.full_train) or None,
    )


def trainable_state(model: Any) -> dict[str, Any]:
    """Copies of the parameters being trained (adapter and fully trained modules)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


# ---- validation ----------------------------------------------------------------------------------
def validate_model(model: Any, processor: Any, schema: Schema, examples: list[Example], cfg: VLMTuneConfig):
    """Field accuracy, weighted score and valid JSON on ``examples``, constrained and free, through
    the vlm backend on ``model`` (left in eval mode; random state untouched)."""
    import torch

    from vestis.eval.extract import predict_batch, score_records
    from vestis.extract.backends.vlm import VLMExtractor

    if not examples:
        return None
    out = {}
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for mode, constrained in (("constrained", True), ("unconstrained", False)):
            extractor = VLMExtractor.from_model(
                schema, model, processor, **extractor_options(cfg, constrained)
            )
            records = predict_batch(extractor, schema, examples)
            scored = score_records(schema, records)
            seconds = sum(r["seconds"] for r in records)
            out[mode] = {
                "weighted_score": scored["weighted_score"],
                "valid_json": scored["valid_json"]["strict"],
                "valid_json_after_repair": scored["valid_json"]["after_repair"],
                "accuracy": {n: m["accuracy"] for n, m in scored["fields"].items() if m.get("support")},
                "n": scored["n"],
                "samples_per_s": round(len(records) / seconds, 2) if seconds else None,
            }
    return out


# ---- export --------------------------------------------------------------------------------------
def export_model(peft_model: Any, processor: Any, out: Path, card: str, prompt: dict[str, str]) -> Path:
    """Save the adapter (``out/adapter``), then merge it and save the model the vlm backend loads
    (``out/model``: config recording the ``prompt`` it was trained under
    (:meth:`VLMExtractor.prompt_record`), weights, processor, model card). The adapter is gone from
    ``peft_model``."""
    from vestis.models.backbones import check_unfolded

    check_unfolded(peft_model)
    peft_model.save_pretrained(str(out / "adapter"))
    merged = peft_model.merge_and_unload()
    merged.config.vestis_prompt = prompt
    model_dir = out / "model"
    merged.save_pretrained(str(model_dir))
    processor.save_pretrained(str(model_dir))
    (model_dir / "README.md").write_text(card, encoding="utf-8")
    return model_dir


def write_run_files(out: Path, cfg: VLMTuneConfig, metrics: dict[str, Any], report: str) -> None:
    """``config.json``, ``metrics.json`` and ``report.md`` in the output directory."""
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    (out / "report.md").write_text(report, encoding="utf-8")


def validation_table(validations: list[dict[str, Any]]) -> str:
    """Markdown rows of validation results over training (step, weighted score, valid JSON)."""
    rows = [
        "| step | constrained: weighted score | valid JSON "
        "| free: weighted score | valid JSON | after repair |",
        "|---|---|---|---|---|---|",
    ]
    for v in validations:
        c, u = v["constrained"], v["unconstrained"]
        rows.append(
            f"| {v['step']} | {_num(c['weighted_score'])} | {_num(c['valid_json'])} | "
            f"{_num(u['weighted_score'])} | {_num(u['valid_json'])} | {_num(u['valid_json_after_repair'])} |"
        )
    return "\n".join(rows)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
