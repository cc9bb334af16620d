"""``vestis train grpo``: trl's GRPOTrainer on a vision-language model with the vestis schema rewards.

Start from a ``lora-sft`` output directory (its merged ``model/``) or any VLM directory. For each
training item the model samples ``group_size`` free answers (no grammar: the point is to learn to
write valid JSON unaided) to the very prompt the ``vlm`` backend sends; each answer is scored by
:mod:`vestis.train.rewards` (JSON gate, structure 20%, field content 80% with the schema's weights,
null-aware, partial credit for other spellings) against what the item's labels know; advantages
are the rewards normalised within the group; the loss is trl's clipped policy objective plus
``beta`` times the KL divergence to the starting model (a fresh LoRA adapter is trained, so the
starting model is that adapter switched off). The reward curve (the mean reward per step, and
each layer's) goes to ``metrics.json`` and ``report.md``; the model is validated through the vlm
backend before and after, then merged and exported to ``out_dir/model`` like ``lora-sft``.

trl trains decoder-only models whose processor has a chat template (SmolVLM, Qwen2-VL, LLaVA-style
models such as vestis-vlm-tiny); an encoder-decoder such as Florence-2 is refused with a clear
message (fine-tune it with ``lora-sft``). Checkpoints go to ``out_dir/checkpoints`` every
``checkpoint_every`` steps and a rerun resumes from the last one (the Trainer's own resume: the
steps up to it are kept exactly, but the steps after it sample other answers than a run never
stopped would, so the result is close to, not identical with, an uninterrupted run's).

    vestis train grpo --set model=runs/lora-sft --set datasets='[hm]' --set steps=200
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from vestis.data import Dataset, DatasetError
from vestis.errors import OptionsError, require
from vestis.extract.backends.vlm import fit_image
from vestis.images import ImageLoadError, load_image
from vestis.schema import load_schema
from vestis.train.config import seed_everything
from vestis.train.rewards import reward_functions
from vestis.train.vlm_config import GRPOTrainConfig
from vestis.train.vlm_tuning import (
    export_model,
    load_splits,
    load_vlm,
    lora_config,
    tune_examples,
    validate_model,
    validation_table,
    write_run_files,
)

log = logging.getLogger(__name__)

# Settings that do not change what is trained: a run may resume with other values of these.
NOT_TRAINING = ("out_dir", "threads", "val_limit", "checkpoint_every", "max_minutes")
# What the reward curve keeps of trl's per-step log, under shorter names.
CURVE = {
    "reward": "reward",
    "reward_std": "reward_std",
    "rewards/json_structure/mean": "structure",
    "rewards/field_content/mean": "content",
    "kl": "kl",
    "loss": "loss",
    "completions/mean_length": "answer_tokens",
    "completions/clipped_ratio": "cut_at_max_tokens",
    "frac_reward_zero_std": "flat_groups",
}


def starting_model(spec: str | None) -> str | None:
    """A lora-sft output directory means its merged ``model/``; anything else is a model itself."""
    if spec and (Path(spec) / "model" / "config.json").is_file():
        return str(Path(spec) / "model")
    return spec


def train_grpo(cfg: GRPOTrainConfig, datasets: list[Dataset] | None = None, fresh: bool = False) -> Path:
    """Run GRPO, validate before and after, export; returns the merged model directory."""
    require("trl", "train-vlm", "the grpo recipe")
    import datasets as hf_datasets
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    seed_everything(cfg.seed, cfg.threads)
    schema = load_schema(cfg.schema)
    start = starting_model(cfg.model)
    vlm = load_vlm(cfg, schema, start)
    if vlm.model.config.is_encoder_decoder or not vlm.chat:
        raise OptionsError(
            f"grpo trains through trl's GRPOTrainer, which needs a decoder-only model with a chat template; "
            f"{start} ({vlm.family}) is not one: fine-tune it with lora-sft"
        )
    train, val = load_splits(cfg, schema, datasets)
    # silent lists are known [] here too, so the rewards score them
    examples, skipped = tune_examples(
        train, schema, cfg.null_labels, cfg.silent_lists, cfg.silent_lists_fields
    )
    if not examples:
        raise DatasetError(f"no training example has a known field of schema {schema.name!r} ({skipped})")
    out = Path(cfg.out_dir)
    checkpoints = out / "checkpoints"
    _check_same_run(out, cfg, fresh)
    if fresh and checkpoints.exists():
        shutil.rmtree(checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1), encoding="utf-8")
    before = validate_model(vlm.model, vlm.processor, schema, val, cfg)
    rows = []
    for ex in examples:
        try:
            photos = [fit_image(load_image(p), vlm.max_side) for p in ex.photos]
        except ImageLoadError as exc:
            log.warning("skipping %s: %s", ex.id, exc)
            continue
        rows.append(
            {"prompt": vlm.prompt_messages(len(photos)), "images": photos, "target": json.dumps(ex.known)}
        )
    funcs, weights = reward_functions(schema)
    cuda = vlm.model.device.type == "cuda"
    args = GRPOConfig(
        output_dir=str(checkpoints),
        per_device_train_batch_size=cfg.batch_size * cfg.group_size,
        num_generations=cfg.group_size,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        learning_rate=cfg.lr,
        max_steps=cfg.steps,
        reward_weights=weights,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.checkpoint_every,
        seed=cfg.seed,
        use_cpu=not cuda,
        bf16=cuda and vlm.model.dtype.is_floating_point and vlm.model.dtype.itemsize == 2,
        gradient_checkpointing=False,
        report_to="none",
        disable_tqdm=os.environ.get("VESTIS_PROGRESS", "1") == "0",
    )
    trainer = GRPOTrainer(
        model=vlm.model,
        reward_funcs=funcs,
        args=args,
        train_dataset=hf_datasets.Dataset.from_list(rows),
        processing_class=vlm.processor,
        peft_config=lora_config(cfg, vlm.model),
        callbacks=[] if cfg.max_minutes is None else [time_limit(cfg.max_minutes)],
    )
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    model = trainer.model
    after = validate_model(model, vlm.processor, schema, val, cfg)
    summary_step = trainer.state.global_step
    curve = [
        {"step": entry["step"], **{short: entry[key] for key, short in CURVE.items() if key in entry}}
        for entry in trainer.state.log_history
        if "reward" in entry
    ]
    summary = {
        "config": cfg.to_dict(),
        "start": start,
        "train_examples": len(rows),
        "skipped_examples": skipped,
        "val_examples": len(val),
        "steps": trainer.state.global_step,
        "resumed_from": resume,
        "train_seconds_this_run": round(seconds, 1),
        "reward_curve": curve,
        "validations": [] if before is None else [{"step": 0, **before}, {"step": summary_step, **after}],
    }
    model_dir = export_model(model, vlm.processor, out, model_card(summary), vlm.prompt_record())
    write_run_files(out, cfg, summary, report(summary, model_dir))
    return model_dir


def time_limit(minutes: float) -> Any:
    """A transformers callback that ends training after the first step past ``minutes`` (from the
    start of training in this run), saving a checkpoint there so that a resume goes on."""
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.deadline = time.perf_counter() + 60 * minutes

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.perf_counter() >= self.deadline:
                control.should_training_stop = True
                control.should_save = True

    return TimeLimit()


def _check_same_run(out: Path, cfg: GRPOTrainConfig, fresh: bool) -> None:
    """Refuse to resume checkpoints written with other training settings."""
    saved = out / "config.json"
    if fresh or not (out / "checkpoints").is_dir() or not saved.is_file():
        return
    before = {k: v for k, v in json.loads(saved.read_text()).items() if k not in NOT_TRAINING}
    if before != {k: v for k, v in cfg.to_dict().items() if k not in NOT_TRAINING}:
        raise OptionsError(
            f"{out / 'checkpoints'} was written with another config; pass --fresh to start over"
        )


def report(summary: dict[str, Any], model_dir: Path) -> str:
    """The short human report (``report.md``): the reward curve and the validations."""
    cfg, curve = summary["config"], summary["reward_curve"]
    lines = [
        f"# grpo: {summary['start']} on {', '.join(cfg['datasets'])} ({cfg['schema']} schema)",
        "",
        f"{summary['train_examples']} training items, {cfg['batch_size']} per step, {cfg['group_size']} "
        f"answers sampled each (temperature {cfg['temperature']}, at most {cfg['max_new_tokens']} tokens); "
        f"KL weight {cfg['beta']}; {summary['steps']} steps, "
        f"{summary['train_seconds_this_run']} s in this run.",
        "",
        "## Reward curve (mean over each step's answers; reward = gate × (0.2 structure + 0.8 content))",
        "",
        "| step | reward | structure | content | KL | answer tokens |",
        "|---|---|---|---|---|---|",
    ]
    every = max(1, len(curve) // 20)
    for point in curve[::every] + ([curve[-1]] if curve and (len(curve) - 1) % every else []):
        lines.append(
            f"| {point['step']} | {point['reward']:.3f} | {point.get('structure', 0):.3f} | "
            f"{point.get('content', 0):.3f} | {point.get('kl', 0):.4f} | "
            f"{point.get('answer_tokens', 0):.0f} |"
        )
    flat = [p["flat_groups"] for p in curve if "flat_groups" in p]
    if flat:
        lines += [
            "",
            f"{sum(flat) / len(flat):.0%} of the groups scored all their answers alike, which teaches nothing"
            + (" (no answer passed the JSON gate? train lora-sft further first)." if min(flat) == 1 else "."),
        ]
    if summary["validations"]:
        lines += [
            "",
            "## Validation (vlm backend), before and after",
            "",
            validation_table(summary["validations"]),
        ]
    lines += [
        "",
        f"Model: `{model_dir}`; use it with `vestis extract --backend vlm --set model={model_dir}`.",
    ]
    return "\n".join(lines) + "\n"


def model_card(summary: dict[str, Any]) -> str:
    cfg, curve = summary["config"], summary["reward_curve"]
    rewards = (
        f"mean reward {curve[0]['reward']:.3f} at step 1, {curve[-1]['reward']:.3f} at the end"
        if curve
        else ""
    )
    return f"""# {summary["start"]} after vestis grpo ({cfg["schema"]} schema)

GRPO with the vestis schema rewards (JSON gate, structure 20%, field content 80%):
{summary["steps"]} steps, {cfg["group_size"]} answers per item, KL weight {cfg["beta"]};
LoRA r={cfg["lora_r"]}, alpha={cfg["lora_alpha"]}, merged into these weights; {rewards}.
Load it with `vestis extract --backend vlm --set model=DIR`.

Config: {json.dumps(cfg)}
"""
