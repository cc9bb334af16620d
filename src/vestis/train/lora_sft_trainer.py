"""``vestis train lora-sft``: teach a vision-language model a schema's JSON with LoRA.

Each training example is the item's photo(s) under the very prompt the ``vlm`` backend sends
(:meth:`VLMExtractor.prompt_text`, chat template and all), followed by the target object written
as constrained decoding writes it (:func:`~vestis.extract.grammar.answer_text`: compact, keys in
schema order, null where the label is unknown) and the model's stop token. The loss covers the
answer tokens only, and not the values of unknown fields either unless ``train_unknown``: on
clothing/ (whose labels leave colour, pattern, material... unknown), a tiny random Qwen2-VL (64
wide, 2 layers; 64 examples, 16 steps) trained on every null collapsed to answering null
everywhere (constrained weighted score 0.08 → 0.00), and without those nulls' loss it rose
(0.08 → 0.27). Fields that no training example labels at all are the exception
(``train_unlabelled``, on by default): their nulls are trained, else nothing teaches the model
what to write there (vestis-vlm-tiny after 30 steps on H&M, which labels no ``secondary_colour``,
wrote lists of colours there until the token limit when decoding freely). ``silent_lists`` (on by
default) goes one step further for multi fields: one that a dataset labels on some of its items is
trained as [] on its others, since positive-only labels (H&M's "sporty" style, only on sportswear)
otherwise teach the model to write the one value everywhere.

LoRA (r=16, α=32 by default) adapts every linear layer of the language model; the vision tower
stays frozen unless ``train_vision``; ``full_train`` names modules trained in full (a projector
trained from scratch). The starting model is validated first, then every ``eval_every`` steps or
each epoch: field accuracy, weighted score and valid JSON through the vlm backend itself,
constrained and free. Checkpoints (adapter, optimiser, schedule, random state) go to
``out_dir/checkpoint.pt`` every ``checkpoint_every`` steps; a run resumes from it exactly (the
same adapter as a run never stopped); ``max_minutes`` ends a run after the first step past that
time, checkpointed and exported as at the end (a leased GPU's hard limit). Weights train in
``dtype`` (float32 masters by default, on a GPU too). At the end the adapter is saved (``out_dir/adapter``),
merged and exported with the processor (``out_dir/model``), which the backend loads::

    vestis train lora-sft --set model=HuggingFaceTB/SmolVLM-256M-Instruct --set datasets='[hm]'
    vestis extract photo.jpg --backend vlm --set model=runs/lora-sft/model
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vestis.data import Dataset, DatasetError
from vestis.extract.backends.vlm import VLMExtractor, value_spans
from vestis.images import ImageLoadError, load_image
from vestis.progress import progress_bar
from vestis.schema import Schema, load_schema
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.vlm_config import LoraSFTConfig
from vestis.train.vlm_tuning import (
    TuneExample,
    export_model,
    extractor_options,
    load_splits,
    load_vlm,
    lora_config,
    trainable_state,
    tune_examples,
    validate_model,
    validation_table,
    write_run_files,
)

log = logging.getLogger(__name__)

# Settings that do not change what is trained: a run may resume with other values of these.
NOT_TRAINING = (
    "out_dir",
    "threads",
    "max_steps",
    "eval_every",
    "val_limit",
    "checkpoint_every",
    "max_new_tokens",
    "max_minutes",
)


def answer_labels(tok: Any, text: str, skip: list[str]) -> tuple[list[int], list[int]]:
    """Token ids of the answer ``text`` and their labels: the ids, but -100 on every token that
    overlaps a ``skip`` field's value from its colon on. BPE merges the colon with what follows
    (SmolLM2: '":' before null, '":"' before a string), so training the colon's token would teach
    the unknown value's kind: a model trained so on garments whose type is unknown wrote '":' then
    junk for their type when decoding freely."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=bool(skip))
    ids, marks = list(enc["input_ids"]), list(enc["input_ids"])
    if skip:
        spans = [(text.rindex(":", 0, a), b) for name, (a, b) in value_spans(text).items() if name in skip]
        for i, (a, b) in enumerate(enc["offset_mapping"]):
            if any(a < end and b > start for start, end in spans):
                marks[i] = -100
    return ids, marks


def sft_inputs(
    extractor: VLMExtractor,
    items: list[list[Any]],
    answers: list[str],
    no_loss: list[list[str]] | None = None,
) -> dict[str, Any]:
    """The model's batch with ``labels``: each item's prompt as the backend builds it, then its answer
    and the stop token; labels only on the answer, less the values of the fields in ``no_loss`` (from
    their colon on)."""
    inputs = extractor.model_inputs(items)
    tok = extractor.tokenizer
    gen = extractor.model.generation_config
    prefix = [gen.forced_bos_token_id] if extractor.forced_prefix else []
    targets, labels = [], []
    for row, text in enumerate(answers):
        ids, marks = answer_labels(tok, text, no_loss[row] if no_loss else [])
        targets.append([*prefix, *ids, extractor.eos_ids[0]])
        labels.append([*prefix, *marks, extractor.eos_ids[0]])
    device = inputs["input_ids"].device
    if extractor.model.config.is_encoder_decoder:  # the decoder reads the labels shifted right
        width = max(map(len, labels))
        inputs["labels"] = torch.tensor([x + [-100] * (width - len(x)) for x in labels], device=device)
        return inputs
    ids, mask = inputs["input_ids"], inputs["attention_mask"].bool()
    aligned = [
        k for k, v in inputs.items() if k != "input_ids" and torch.is_tensor(v) and v.shape == ids.shape
    ]
    rows = []
    for r in range(ids.shape[0]):
        prompt = ids[r][mask[r]]
        answer = torch.tensor(targets[r], device=device)
        row = {"input_ids": torch.cat([prompt, answer])}
        row["labels"] = torch.cat([torch.full_like(prompt, -100), torch.tensor(labels[r], device=device)])
        for k in aligned:
            fill = torch.ones_like(answer) if k == "attention_mask" else torch.zeros_like(answer)
            row[k] = torch.cat([inputs[k][r][mask[r]], fill.to(inputs[k].dtype)])
        rows.append(row)
    width = max(len(row["input_ids"]) for row in rows)
    pads = {"input_ids": extractor.pad_id if extractor.pad_id is not None else 0, "labels": -100}
    for k in ["input_ids", "labels", *aligned]:
        inputs[k] = torch.stack(
            [torch.nn.functional.pad(row[k], (0, width - len(row[k])), value=pads.get(k, 0)) for row in rows]
        )
    return inputs


def unlabelled_fields(schema: Schema, examples: list[TuneExample]) -> frozenset[str]:
    """The schema's fields that no example knows."""
    return frozenset(schema.fields) - {name for ex in examples for name in ex.known}


def sft_loss(
    extractor: VLMExtractor,
    batch: list[TuneExample],
    train_unknown: bool,
    trained_nulls: frozenset[str] = frozenset(),
) -> torch.Tensor | None:
    """Mean cross-entropy of the answers' tokens (None when no photo of the batch can be read); an
    unknown field's value carries no loss unless ``train_unknown`` or the field is in ``trained_nulls``."""
    items, kept = [], []
    for ex in batch:
        try:
            items.append([load_image(p) for p in ex.photos])
            kept.append(ex)
        except ImageLoadError as exc:
            log.warning("skipping %s: %s", ex.id, exc)
    if not kept:
        return None
    fields = list(extractor.schema.fields)
    no_loss = (
        None
        if train_unknown
        else [[n for n in fields if n not in ex.known and n not in trained_nulls] for ex in kept]
    )
    return extractor.model(**sft_inputs(extractor, items, [ex.answer for ex in kept], no_loss)).loss


def train_lora_sft(cfg: LoraSFTConfig, datasets: list[Dataset] | None = None, fresh: bool = False) -> Path:
    """Fine-tune, validate, checkpoint, export; returns the merged model directory."""
    from peft import get_peft_model

    seed_everything(cfg.seed, cfg.threads)
    schema = load_schema(cfg.schema)
    vlm = load_vlm(cfg, schema)  # before the data: a missing model fails fast
    train, val = load_splits(cfg, schema, datasets)
    examples, skipped = tune_examples(
        train, schema, cfg.null_labels, cfg.silent_lists, cfg.silent_lists_fields
    )
    if not examples:
        raise DatasetError(f"no training example has a known field of schema {schema.name!r} ({skipped})")
    trained_nulls = unlabelled_fields(schema, examples) if cfg.train_unlabelled else frozenset()
    if trained_nulls:
        log.info("no training example labels %s: their nulls are trained", ", ".join(sorted(trained_nulls)))
    model = get_peft_model(vlm.model, lora_config(cfg, vlm.model))
    extractor = VLMExtractor.from_model(schema, model, vlm.processor, **extractor_options(cfg))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_step = cfg.batch_size * cfg.grad_accum
    steps_per_epoch = math.ceil(len(examples) / per_step)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _schedule(cfg.warmup_steps, total))
    stop = min(total, cfg.max_steps or total)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    data_key = _data_key(examples)
    ckpt = load_checkpoint(ckpt_path, cfg, fresh, ignore=NOT_TRAINING)
    done, history, validations = 0, [], []
    if ckpt is not None:
        if ckpt["data"] != data_key:
            raise DatasetError(f"{ckpt_path} was trained on other examples; pass --fresh to start over")
        model.load_state_dict(ckpt["adapter"], strict=False)
        optim.load_state_dict(ckpt["optim"])
        sched.load_state_dict(ckpt["sched"])
        done, history, validations = ckpt["step"], ckpt["history"], ckpt["validations"]
        torch.set_rng_state(ckpt["torch_rng"])
        log.info("resuming at step %d of %d", done, stop)
    elif val:
        validations.append({"step": 0, **validate_model(model, vlm.processor, schema, val, cfg)})
    t0 = time.perf_counter()
    deadline = None if cfg.max_minutes is None else t0 + 60 * cfg.max_minutes
    out_of_time = False
    model.train()
    with progress_bar() as bar:
        task = bar.add_task("LoRA SFT", total=stop, completed=done)
        while done < stop and not out_of_time:
            epoch = done // steps_per_epoch
            order = np.random.default_rng(cfg.seed * 1000 + epoch).permutation(len(examples))
            start = (done % steps_per_epoch) * per_step
            chosen = [examples[i] for i in order[start : start + per_step]]
            optim.zero_grad(set_to_none=True)
            step_loss = 0.0
            for at in range(0, len(chosen), cfg.batch_size):
                batch = chosen[at : at + cfg.batch_size]
                loss = sft_loss(extractor, batch, cfg.train_unknown, trained_nulls)
                if loss is not None:
                    share = len(batch) / len(chosen)
                    (loss * share).backward()
                    step_loss += float(loss.detach()) * share
            optim.step()
            sched.step()
            done += 1
            history.append({"step": done, "epoch": epoch + 1, "loss": round(step_loss, 5)})
            bar.advance(task)
            out_of_time = deadline is not None and time.perf_counter() >= deadline
            last = done == stop or out_of_time
            due = done % cfg.eval_every == 0 if cfg.eval_every else done % steps_per_epoch == 0
            if val and (due or last):
                validations.append({"step": done, **validate_model(model, vlm.processor, schema, val, cfg)})
                model.train()
            if done % cfg.checkpoint_every == 0 or last:
                save_checkpoint(
                    ckpt_path,
                    {
                        "config": cfg.to_dict(),
                        "data": data_key,
                        "adapter": trainable_state(model),
                        "optim": optim.state_dict(),
                        "sched": sched.state_dict(),
                        "step": done,
                        "history": history,
                        "validations": validations,
                        "torch_rng": torch.get_rng_state(),  # LoRA dropout
                    },
                )
    seconds = time.perf_counter() - t0
    model.eval()
    summary = {
        "config": cfg.to_dict(),
        "train_examples": len(examples),
        "skipped_examples": skipped,
        "val_examples": len(val),
        "steps": done,
        "total_steps": total,
        "stopped_by_max_minutes": out_of_time and done < stop,
        "train_seconds_this_run": round(seconds, 1),
        "history": history,
        "validations": validations,
    }
    model_dir = export_model(model, vlm.processor, out, model_card(summary), vlm.prompt_record())
    write_run_files(out, cfg, summary, report(summary, model_dir))
    return model_dir


def _schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


def _data_key(examples: list[TuneExample]) -> str:
    return hashlib.sha1(json.dumps([[ex.id, ex.photos, ex.answer] for ex in examples]).encode()).hexdigest()


def _start(cfg: dict[str, Any]) -> str:
    """The starting model's name: ``model``, or the backend's default when none was named."""
    return cfg["model"] or "the shipped vestis-vlm-tiny"


def report(summary: dict[str, Any], model_dir: Path) -> str:
    """The short human report (``report.md``)."""
    cfg, history = summary["config"], summary["history"]
    losses = [h["loss"] for h in history]
    lines = [
        f"# lora-sft: {_start(cfg)} on {', '.join(cfg['datasets'])} ({cfg['schema']} schema)",
        "",
        f"{summary['train_examples']} training examples (left out: {summary['skipped_examples']}), "
        f"{summary['val_examples']} validation examples; step {summary['steps']} of {summary['total_steps']} "
        f"({cfg['batch_size'] * cfg['grad_accum']} examples each), "
        f"{summary['train_seconds_this_run']} s in this run.",
    ]
    if losses:
        lines.append(
            f"Loss of the answer tokens: {losses[0]:.4f} at step 1, {losses[-1]:.4f} at step {len(losses)}."
        )
    if summary["validations"]:
        lines += ["", "## Validation (vlm backend, constrained and free decoding)", ""]
        lines.append(validation_table(summary["validations"]))
    lines += [
        "",
        f"Model: `{model_dir}`; use it with `vestis extract --backend vlm --set model={model_dir}`.",
    ]
    return "\n".join(lines) + "\n"


def model_card(summary: dict[str, Any]) -> str:
    cfg = summary["config"]
    where = "every linear layer" if cfg["train_vision"] else "the language model's linear layers"
    last = summary["validations"][-1] if summary["validations"] else None
    scores = (
        f"On {last['constrained']['n']} validation items: weighted field score "
        f"{last['constrained']['weighted_score']} with constrained decoding, valid JSON without constraint "
        f"{last['unconstrained']['valid_json']}."
        if last
        else "Not validated."
    )
    return f"""# {_start(cfg)} fine-tuned by vestis lora-sft ({cfg["schema"]} schema)

A vision-language model taught to answer with the `{cfg["schema"]}` schema's JSON: LoRA
r={cfg["lora_r"]}, alpha={cfg["lora_alpha"]} on {where}, merged into these weights.
Load it with `vestis extract --backend vlm --set model=DIR`.

Trained on {", ".join(cfg["datasets"])}: {summary["train_examples"]} examples, {summary["steps"]} steps.
{scores}

Config: {json.dumps(cfg)}
"""
