"""Stage 1 of vestis-vlm-tiny (LLaVA's feature alignment): only the projector learns, from captions.

    .venv/bin/python scripts/align_vlm_tiny.py --steps 200 --out runs/vlm-tiny-align

H&M product shots (``../shared/data/hm``, training split) with a caption each: the product title
and the attribute phrase of its mapped labels ("Tank top. black jersey vest top, sleeveless, for
women"). The prompt is the chat template's with a fixed question; the loss is on the caption
only. Everything but the projector and the grid positions is frozen (the tower also keeps its
batch-norm statistics). The held-out loss is measured on a fixed set of validation shots before
and after. Writes the compact model (``save_compact``) to ``OUT/model`` and ``OUT/align.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import torch

from vestis.data import open_dataset
from vestis.data.text import attribute_phrase, title
from vestis.images import load_image
from vestis.models.registry import resolve_vlm
from vestis.models.vlm_tiny import register
from vestis.models.vlm_tiny_build import save_compact
from vestis.schema import load_schema

QUESTION = "Describe this garment in a few words."
log = logging.getLogger("align")


def caption(example, schema) -> str | None:
    phrase = attribute_phrase(example.labels, schema)
    name = title(example)
    parts = [p for p in (name and f"{name}.", phrase) if p]
    return " ".join(parts) or None


def batch_inputs(processor, examples, schema, photos=None):
    """Chat-formatted captions of ``examples`` with their photos (or ``photos``' photos), and labels."""
    images, texts = [], []
    for ex, shown in zip(examples, photos or examples, strict=True):
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
            {"role": "assistant", "content": caption(ex, schema)},
        ]
        texts.append(processor.apply_chat_template(messages, tokenize=False))
        images.append(load_image(shown.image, max_side=512))
    processor.tokenizer.padding_side = "right"
    inputs = processor(images=images, text=texts, padding=True, return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[inputs["attention_mask"] == 0] = -100
    # the loss is on the answer only: everything up to the assistant's turn is masked
    start = processor.tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    for row in labels:
        ids = row.tolist()
        for i in range(len(ids) - len(start), -1, -1):
            if ids[i : i + len(start)] == start:
                row[: i + len(start)] = -100
                break
    return inputs, labels


def mean_loss(model, processor, examples, schema, batch: int, mismatched: bool = False) -> float:
    """Mean caption loss; ``mismatched``: each caption shown another example's photo (what the
    loss is when the photo tells nothing about the caption)."""
    photos = examples[1:] + examples[:1] if mismatched else examples
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(examples), batch):
            inputs, labels = batch_inputs(processor, examples[i : i + batch], schema, photos[i : i + batch])
            total += model(**inputs, labels=labels).loss.item() * len(examples[i : i + batch])
    return total / len(examples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="hm")
    ap.add_argument("--model", default=None, help="compact vestis-vlm-tiny to start from (default: shipped)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val", type=int, default=32, help="held-out shots for the before/after loss")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/vlm-tiny-align")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    register()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    schema = load_schema("vestis")
    ds = open_dataset(args.data, schema=schema)
    train = [ex for ex in ds.split("train") if caption(ex, schema)]
    val = [ex for ex in ds.split("val") if caption(ex, schema)]
    random.Random(args.seed).shuffle(train)
    val = val[: args.val]
    directory = resolve_vlm(args.model)
    processor = AutoProcessor.from_pretrained(directory)
    model = AutoModelForImageTextToText.from_pretrained(directory)
    model.requires_grad_(False)
    trained = [*model.projector.parameters(), model.image_positions]
    for p in trained:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.steps, pct_start=0.1)
    model.eval()  # no dropout; the tower keeps its statistics
    before = mean_loss(model, processor, val, schema, args.batch)
    before_mismatched = mean_loss(model, processor, val, schema, args.batch, mismatched=True)
    log.info(
        "held-out loss before: %.3f, photos mismatched %.3f (%d shots)", before, before_mismatched, len(val)
    )
    curve, t0 = [], time.perf_counter()
    for step in range(args.steps):
        chunk = [train[(step * args.batch + i) % len(train)] for i in range(args.batch)]
        inputs, labels = batch_inputs(processor, chunk, schema)
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        curve.append(loss.item())
        if (step + 1) % 10 == 0:
            log.info("step %d: loss %.3f (mean of last 10 %.3f)", step + 1, curve[-1], sum(curve[-10:]) / 10)
    seconds = time.perf_counter() - t0
    after = mean_loss(model, processor, val, schema, args.batch)
    after_mismatched = mean_loss(model, processor, val, schema, args.batch, mismatched=True)
    log.info(
        "held-out loss after: %.3f, photos mismatched %.3f; %d steps in %.0f s",
        after,
        after_mismatched,
        args.steps,
        seconds,
    )
    out = Path(args.out)
    save_compact(model, processor, out / "model")
    report = {
        "data": args.data,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "threads": args.threads,
        "train_seconds": seconds,
        "val_shots": len(val),
        "val_loss_before": before,
        "val_loss_before_mismatched": before_mismatched,
        "val_loss_after": after,
        "val_loss_after_mismatched": after_mismatched,
        "train_loss_curve": curve,
    }
    (out / "align.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
