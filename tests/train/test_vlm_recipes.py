"""lora-sft and grpo end to end on tiny random vision-language models (CPU, seconds).

The tiny models' output layer is random with a small scale, so LoRA alone barely moves their loss;
the runs also train it in full (``full_train=[lm_head]``), as a new projector would be trained.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.helpers import GeneratedDataset

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("llguidance")

from safetensors.torch import load_file  # noqa: E402

from vestis.extract.base import load_extractor  # noqa: E402
from vestis.schema import load_schema  # noqa: E402
from vestis.train import lora_sft_trainer  # noqa: E402
from vestis.train.lora_sft_trainer import sft_inputs, train_lora_sft  # noqa: E402
from vestis.train.vlm_config import GRPOTrainConfig, LoraSFTConfig  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

SHOP = """
name: shop
fields:
  category: {weight: 2, values: [top, bottom, footwear]}
  colour: {values: [red, navy, white, black, green, yellow]}
"""


@pytest.fixture(scope="module")
def setup(tiny_vlms, tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm-recipes")
    (root / "shop.yaml").write_text(SHOP)
    return root, GeneratedDataset(root / "images", n_per_cell=1), tiny_vlms["qwen2_vl"]


def sft_config(setup, name: str, **changes) -> LoraSFTConfig:
    root, _, model = setup
    options = dict(
        model=str(model),
        datasets=["generated"],
        schema=str(root / "shop.yaml"),
        limit=4,
        val_limit=2,
        epochs=6,
        batch_size=4,
        lr=2e-2,
        full_train=["lm_head"],
        eval_every=6,
        checkpoint_every=2,
        max_new_tokens=40,
        threads=2,
        out_dir=str(root / name),
    )
    return LoraSFTConfig.from_dict({**options, **changes})


@pytest.fixture(scope="module")
def sft_run(setup):
    cfg = sft_config(setup, "sft")
    return cfg, train_lora_sft(cfg, datasets=[setup[1]])


def adapter(run_dir) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def test_sft_loss_falls_and_validation_is_reported(sft_run):
    cfg, model_dir = sft_run
    out = model_dir.parent
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [h["loss"] for h in metrics["history"]]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0]
    assert [v["step"] for v in metrics["validations"]] == [0, 6]
    for v in metrics["validations"]:
        assert v["constrained"]["valid_json"] == 1.0 and v["constrained"]["n"] == 2
        assert 0 <= v["unconstrained"]["valid_json"] <= 1 and set(v["constrained"]["accuracy"]) <= {
            "category",
            "colour",
        }
    assert json.loads((out / "config.json").read_text()) == cfg.to_dict()
    report = (out / "report.md").read_text()
    assert "| 6 |" in report and f"{losses[0]:.4f} at step 1" in report
    assert (model_dir / "README.md").read_text().startswith("# ")
    # the prompt it learnt under is recorded for the vlm backend
    assert json.loads((model_dir / "config.json").read_text())["vestis_prompt"] == {"style": "full"}


def test_sft_trains_the_language_model_adapter_and_leaves_vision_alone(sft_run, setup):
    _, model_dir = sft_run
    targets = json.loads((model_dir.parent / "adapter" / "adapter_config.json").read_text())["target_modules"]
    assert targets and all(t.startswith("model.language_model.") for t in targets)
    weights = adapter(model_dir.parent)
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # initialised at zero, trained since
    base = load_file(str(setup[2] / "model.safetensors"))
    merged = load_file(str(model_dir / "model.safetensors"))
    assert base.keys() == merged.keys()
    vision = [k for k in base if "visual." in k]
    assert vision and all(torch.equal(base[k], merged[k]) for k in vision)
    assert not torch.equal(base["lm_head.weight"], merged["lm_head.weight"])
    (up,) = [k for k in base if k.endswith("layers.0.mlp.up_proj.weight")]
    assert not torch.equal(base[up], merged[up])


def test_the_merged_export_loads_in_the_vlm_backend_and_extracts(sft_run, setup):
    cfg, model_dir = sft_run
    schema = load_schema(cfg.schema)
    val = setup[1].split("val", cfg.val_fraction)[:2]
    ex = load_extractor("vlm", schema, model=str(model_dir), max_new_tokens=cfg.max_new_tokens)
    results = ex.extract([e.image for e in val])
    assert all(r.error is None and schema.validate(r.raw).strict for r in results)
    last = json.loads((model_dir.parent / "metrics.json").read_text())["validations"][-1]["constrained"]
    gold = [e.labels for e in val]
    weights = {"category": 2, "colour": 1}
    score = sum(
        weights[f] * sum(r.attributes[f] == g[f] for r, g in zip(results, gold, strict=True)) / 2
        for f in weights
    ) / sum(weights.values())
    assert score == pytest.approx(last["weighted_score"])  # the merged model answers as the adapter did


def test_an_interrupted_run_resumes_to_the_same_adapter(sft_run, setup, monkeypatch):
    _, model_dir = sft_run
    calls = {"n": 0}
    real = lora_sft_trainer.sft_loss

    def stop(*args):
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(lora_sft_trainer, "sft_loss", stop)
    cut = sft_config(setup, "cut", val_limit=0)  # validation, or none, must not change training
    with pytest.raises(KeyboardInterrupt):
        train_lora_sft(cut, datasets=[setup[1]])
    assert torch.load(cut.out_dir + "/checkpoint.pt", weights_only=False)["step"] == 4
    monkeypatch.setattr(lora_sft_trainer, "sft_loss", real)
    resumed = train_lora_sft(cut, datasets=[setup[1]])
    whole, again = adapter(model_dir.parent), adapter(resumed.parent)
    assert whole.keys() == again.keys() and all(torch.equal(whole[k], again[k]) for k in whole)
    losses = [h["loss"] for h in json.loads((resumed.parent / "metrics.json").read_text())["history"]]
    assert losses == [
        h["loss"] for h in json.loads((model_dir.parent / "metrics.json").read_text())["history"]
    ]
    with pytest.raises(ValueError, match="another config"):
        train_lora_sft(sft_config(setup, "cut", lr=0.5), datasets=[setup[1]])


def test_max_minutes_stops_checkpoints_exports_and_a_resume_goes_on(setup):
    out = train_lora_sft(sft_config(setup, "timed", val_limit=0, max_minutes=0), datasets=[setup[1]]).parent
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 1 and metrics["stopped_by_max_minutes"] and metrics["total_steps"] == 6
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 1
    assert (out / "model" / "config.json").is_file() and (out / "adapter" / "adapter_config.json").is_file()
    resumed = train_lora_sft(sft_config(setup, "timed", val_limit=0, max_steps=3), datasets=[setup[1]])
    metrics = json.loads((resumed.parent / "metrics.json").read_text())
    assert [h["step"] for h in metrics["history"]] == [1, 2, 3] and not metrics["stopped_by_max_minutes"]


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3", "florence2"])
def test_sft_batches_are_the_backend_prompt_then_the_labelled_answer(family, tiny_vlms, setup):
    schema = load_schema(str(setup[0] / "shop.yaml"))
    ex = load_extractor("vlm", schema, model=str(tiny_vlms[family]))
    items = [[Image.new("RGB", (60, 80), "red")], [Image.new("RGB", (90, 40), "navy")]]
    answers = ['{"category":"top","colour":"red"}', '{"category":null,"colour":"navy"}']
    batch = sft_inputs(ex, items, answers)
    prompts = ex.model_inputs(items)
    tok = ex.tokenizer
    for row, answer in enumerate(answers):
        labelled = [t for t in batch["labels"][row].tolist() if t != -100]
        assert tok.decode(labelled[:-1]) == answer and labelled[-1] == ex.eos_ids[0]
        if ex.model.config.is_encoder_decoder:
            assert torch.equal(batch["input_ids"], prompts["input_ids"])
        else:
            prompt = prompts["input_ids"][row][prompts["attention_mask"][row].bool()]
            n = len(prompt)
            assert torch.equal(batch["input_ids"][row][:n], prompt)
            assert batch["input_ids"][row][n : n + len(labelled)].tolist() == labelled
            assert int(batch["attention_mask"][row].sum()) == n + len(labelled)
    loss = ex.model(**batch).loss
    assert torch.isfinite(loss)
    masked = sft_inputs(ex, items, answers, no_loss=[["category"], []])
    kept = tok.decode([t for t in masked["labels"][0].tolist() if t not in (-100, ex.eos_ids[0])])
    assert "top" not in kept and '"colour":"red"}' in kept
    assert (masked["labels"][1] != -100).sum() == (batch["labels"][1] != -100).sum()


def test_an_unknown_value_loses_its_colon_token_too():
    """A BPE that merges the colon with its neighbours, as SmolLM2's does ('":' before null, '":"'
    before a string): the colon's token of an unknown field carries no loss, else it teaches the
    value's kind."""
    from tokenizers import Tokenizer, models, trainers
    from transformers import PreTrainedTokenizerFast

    from vestis.train.lora_sft_trainer import answer_labels

    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))  # no pre-tokenizer: merges cross punctuation
    texts = ['{"category":"footwear","type":null}', '{"category":null,"type":"boots"}'] * 50
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=40, special_tokens=["[UNK]"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe)
    text = '{"category":"footwear","type":null}'
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    colon = text.index(":null")
    [merged] = [(a, b) for a, b in enc["offset_mapping"] if a <= colon < b]
    assert merged[1] - merged[0] > 1  # the type's colon shares its token
    ids, marks = answer_labels(tok, text, ["type"])
    assert ids == enc["input_ids"] and answer_labels(tok, text, [])[1] == ids
    for (a, b), mark in zip(enc["offset_mapping"], marks, strict=True):
        assert (mark == -100) == (
            b > colon and a < len(text) - 1
        )  # from the colon's token to the value's end
    kept = "".join(tok.decode([i]) for i, m in zip(ids, marks, strict=True) if m != -100)
    assert "footwear" in kept and "null" not in kept and kept.endswith("}")


def test_fields_no_example_labels_have_their_nulls_trained(tiny_vlms, setup, monkeypatch):
    from vestis.train.vlm_tuning import tune_examples

    schema = load_schema(str(setup[0] / "shop.yaml"))
    examples, _ = tune_examples(setup[1].split("train")[:4], schema, "unknown")
    assert all("colour" in ex.known for ex in examples)
    only_category = examples[:2]
    for ex in only_category:
        ex.known.pop("colour")
    assert lora_sft_trainer.unlabelled_fields(schema, only_category) == {"colour"}
    assert lora_sft_trainer.unlabelled_fields(schema, examples) == set()

    class Seen(Exception):
        pass

    def record(ex, items, answers, no_loss):  # what sft_loss asks to leave without loss
        raise Seen(no_loss)

    monkeypatch.setattr(lora_sft_trainer, "sft_inputs", record)
    ex = load_extractor("vlm", schema, model=str(tiny_vlms["qwen2_vl"]))
    with pytest.raises(Seen) as trained:
        lora_sft_trainer.sft_loss(ex, only_category, False, frozenset({"colour"}))
    with pytest.raises(Seen) as untrained:
        lora_sft_trainer.sft_loss(ex, only_category, False)
    assert trained.value.args == ([[], []],) and untrained.value.args == ([["colour"], ["colour"]],)


def test_silent_lists_make_a_sources_unlabelled_multi_fields_known_empty():
    from vestis.data.example import Example
    from vestis.schema import Schema
    from vestis.train.vlm_tuning import silent_lists_known, tune_examples

    schema = Schema.from_dict(
        {
            "name": "s",
            "fields": {
                "category": {"values": ["top", "bottom"]},
                "style": {"kind": "multi", "values": ["sporty", "classic"]},
            },
        }
    )
    rows = [
        ("a", "shop", {"category": "top", "style": ["sporty"]}),
        ("b", "shop", {"category": "bottom"}),
        ("c", "phone", {"category": "top"}),  # this source never labels style: it stays unknown
    ]
    examples, _ = tune_examples(
        [Example(id=i, image=f"{i}.jpg", labels=labels, source=src) for i, src, labels in rows],
        schema,
        "unknown",
    )
    assert silent_lists_known(schema, examples) == {"shop": ["style"]}
    assert [ex.known.get("style", "unknown") for ex in examples] == [["sporty"], [], "unknown"]
    assert LoraSFTConfig().silent_lists and GRPOTrainConfig().silent_lists
    assert not LoraSFTConfig.from_dict({"silent_lists": False}).silent_lists


def test_silent_lists_can_be_limited_to_the_fields_whose_silence_means_none():
    """A style a shop never names on an item is none; a closure its text does not mention is
    unknown: silent_lists_fields completes the first and leaves the second alone."""
    from vestis.data.example import Example
    from vestis.errors import OptionsError
    from vestis.schema import Schema
    from vestis.train.vlm_tuning import tune_examples

    schema = Schema.from_dict(
        {
            "name": "s",
            "fields": {
                "category": {"values": ["top", "bottom"]},
                "style": {"kind": "multi", "values": ["sporty", "classic"]},
                "closure": {"kind": "multi", "values": ["zip", "buttons"]},
            },
        }
    )
    rows = [
        ("a", {"category": "top", "style": ["sporty"], "closure": ["zip"]}),
        ("b", {"category": "bottom"}),
    ]
    items = [Example(id=i, image=f"{i}.jpg", labels=labels, source="shop") for i, labels in rows]
    examples, _ = tune_examples(items, schema, "unknown", silent_lists=True, silent_fields=["style"])
    assert [ex.known.get("style", "?") for ex in examples] == [["sporty"], []]
    assert [ex.known.get("closure", "?") for ex in examples] == [["zip"], "?"]
    everything, _ = tune_examples(items, schema, "unknown", silent_lists=True)
    assert everything[1].known["closure"] == []
    with pytest.raises(OptionsError, match="category"):
        tune_examples(items, schema, "unknown", silent_lists=True, silent_fields=["category"])
    assert LoraSFTConfig.from_dict({"silent_lists_fields": ["style"]}).silent_lists_fields == ["style"]


def test_grpo_from_the_sft_run_logs_rewards_and_trains_the_adapter(sft_run, setup):
    pytest.importorskip("trl")
    from vestis.train.grpo_trainer import train_grpo

    sft_cfg, model_dir = sft_run
    cfg = GRPOTrainConfig.from_dict(
        {
            **{k: sft_cfg.to_dict()[k] for k in ("datasets", "schema", "limit", "threads")},
            "max_new_tokens": 16,
            "model": sft_cfg.out_dir,  # a lora-sft output directory: its merged model/
            "steps": 2,
            "batch_size": 2,
            "group_size": 4,
            "temperature": 0.2,
            "lr": 1e-2,
            "val_limit": 0,
            "out_dir": str(setup[0] / "grpo"),
        }
    )
    out = train_grpo(cfg, datasets=[setup[1]]).parent
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["start"] == str(model_dir)
    curve = metrics["reward_curve"]
    assert [p["step"] for p in curve] == [1, 2]
    for p in curve:
        assert 0 <= p["reward"] <= 1
        assert p["reward"] == pytest.approx(0.2 * p["structure"] + 0.8 * p["content"], abs=1e-6)
    assert any(p["reward_std"] > 0 for p in curve)  # the groups disagreed: there was something to learn
    lora_b = [v for k, v in adapter(out).items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)
    assert "| 2 |" in (out / "report.md").read_text()
    assert (
        load_extractor("vlm", cfg.schema, model=str(out / "model"), max_new_tokens=12)
        .extract(setup[1].examples()[0].image)
        .valid_raw
    )


def test_grpo_max_minutes_stops_after_a_step_with_a_checkpoint(sft_run, setup):
    pytest.importorskip("trl")
    from vestis.train.grpo_trainer import train_grpo

    sft_cfg, _ = sft_run
    cfg = GRPOTrainConfig.from_dict(
        {
            **{k: sft_cfg.to_dict()[k] for k in ("datasets", "schema", "limit", "threads")},
            "model": sft_cfg.out_dir,
            "max_new_tokens": 8,
            "steps": 5,
            "batch_size": 1,
            "group_size": 2,
            "checkpoint_every": 10,
            "val_limit": 0,
            "max_minutes": 0,
            "out_dir": str(setup[0] / "grpo-timed"),
        }
    )
    out = train_grpo(cfg, datasets=[setup[1]]).parent
    assert json.loads((out / "metrics.json").read_text())["steps"] == 1
    assert (out / "checkpoints" / "checkpoint-1").is_dir()


def test_grpo_refuses_an_encoder_decoder(tiny_vlms, setup):
    pytest.importorskip("trl")
    from vestis.errors import OptionsError
    from vestis.train.grpo_trainer import train_grpo

    cfg = GRPOTrainConfig(model=str(tiny_vlms["florence2"]), datasets=["generated"], limit=2, val_limit=0)
    with pytest.raises(OptionsError, match="decoder-only model with a chat template"):
        train_grpo(cfg, datasets=[setup[1]])


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3"])
def test_trl_renders_the_grpo_prompt_as_the_backend_does(family, tiny_vlms, setup):
    pytest.importorskip("trl")
    from trl.data_utils import prepare_multimodal_messages

    ex = load_extractor("vlm", load_schema(str(setup[0] / "shop.yaml")), model=str(tiny_vlms[family]))
    photos = [Image.new("RGB", (60, 80), "red"), Image.new("RGB", (40, 40), "navy")]
    messages = prepare_multimodal_messages(ex.prompt_messages(2), images=photos)  # as GRPOTrainer does
    rendered = ex.processor.apply_chat_template(
        conversation=[messages], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert list(rendered["input_ids"][0]) == ex.model_inputs([photos])["input_ids"][0].tolist()


def test_grpo_trains_vestis_vlm_tiny(tiny_vlms, setup, monkeypatch):
    """The whole recipe on a random vestis-vlm-tiny, whose LM loss trl computes through ``base_model``.

    A random model writes no valid JSON, so every schema reward is 0 and nothing is learnt; the run is
    scored instead by the answer's length (the schema rewards are tested from the SFT run above).
    """
    pytest.importorskip("trl")
    from vestis.train import grpo_trainer
    from vestis.train.rewards import completion_text

    def length(completions, **_):
        return [len(completion_text(c)) / 100 for c in completions]

    monkeypatch.setattr(grpo_trainer, "reward_functions", lambda schema: ([length], [1.0]))
    cfg = GRPOTrainConfig.from_dict(
        {
            "model": str(tiny_vlms["vestis_vlm"]),
            "datasets": ["generated"],
            "schema": str(setup[0] / "shop.yaml"),
            "limit": 4,
            "threads": 1,
            "max_new_tokens": 16,
            "steps": 2,
            "batch_size": 2,
            "group_size": 4,
            "temperature": 1.0,
            "lr": 1e-2,
            "val_limit": 0,
            "out_dir": str(setup[0] / "grpo-vestis"),
        }
    )
    out = grpo_trainer.train_grpo(cfg, datasets=[setup[1]]).parent
    curve = json.loads((out / "metrics.json").read_text())["reward_curve"]
    assert [p["step"] for p in curve] == [1, 2]
    assert all(p["reward"] > 0 for p in curve) and any(p["reward_std"] > 0 for p in curve)
    lora_b = [v for k, v in adapter(out).items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)
    assert all("language_model" in k for k in adapter(out))


def test_a_prompt_and_a_prompt_style_are_not_both_taken():
    from vestis.errors import OptionsError

    with pytest.raises(OptionsError, match="not both"):
        LoraSFTConfig.from_dict({"prompt": "Say the JSON.", "prompt_style": "compact"})
    assert LoraSFTConfig.from_dict({"prompt_style": "compact"}).prompt_style == "compact"
