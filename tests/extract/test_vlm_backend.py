"""The vlm backend on tiny random Idefics3 (SmolVLM), Qwen2-VL and Florence-2 checkpoints.

Random weights write nonsense, so what is tested is the machinery: prompts through the chat
template, batching of photos of different sizes, grammar-constrained decoding (every answer
strictly valid on every preset and a user schema), free decoding (repaired or nulled, never a
crash), several photos per item, confidences and the errors for a missing model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.tiny_vlm import FAMILIES
from vestis.errors import OptionsError
from vestis.extract.base import load_extractor
from vestis.models.registry import ModelNotFound
from vestis.schema import Schema, load_schema

pytest.importorskip("llguidance")

USER_SCHEMA = """
name: shop
fields:
  kind: {kind: single, nullable: false, values: [tee, {name: hoodie, synonyms: [hooded top]}, coat]}
  tags: {kind: multi, values: [cotton, recycled, vintage]}
  sku: {kind: text, max_length: 12, pattern: "^[A-Z0-9-]+$"}
"""


@pytest.fixture(scope="module")
def user_schema(tmp_path_factory) -> Schema:
    path = tmp_path_factory.mktemp("schema") / "shop.yaml"
    path.write_text(USER_SCHEMA)
    return load_schema(str(path))


def photos() -> list[Image.Image]:
    return [
        Image.new("RGB", (60, 80), (200, 20, 30)),
        Image.new("RGB", (120, 90), (20, 30, 90)),
        Image.new("RGB", (33, 47), (240, 240, 240)),
    ]


def _schemas(user_schema: Schema) -> list[Schema]:
    return [load_schema("vestis"), load_schema("florence"), load_schema("denali"), user_schema]


@pytest.mark.parametrize("family", FAMILIES)
def test_constrained_answers_are_strictly_valid_on_every_schema(family, tiny_vlms, user_schema):
    # Florence-2 is prompted like its fine-tunes: a short task prompt (its encoder is the slow part).
    prompt = {"prompt": "<EXTRACT_ATTRIBUTES>"} if family == "florence2" else {}
    for schema in _schemas(user_schema):
        ex = load_extractor("vlm", schema, model=str(tiny_vlms[family]), max_new_tokens=300, **prompt)
        results = ex.extract(photos())
        assert len(results) == 3
        for res in results:
            assert res.error is None, (family, schema.name, res.error)
            assert schema.validate(res.raw).strict, (family, schema.name, res.raw)
            assert res.valid_raw and res.attributes == schema.validate(res.raw).value
            for name, value in res.attributes.items():
                conf = res.confidence[name]
                assert conf == 0.0 if value in (None, []) else 0.0 < conf <= 1.0
            assert res.usage["completion_tokens"] > 0 and res.usage["prompt_tokens"] > 0
        assert 0 < ex.last_stats["mask_seconds"] < ex.last_stats["generate_seconds"]


@pytest.mark.parametrize("family", FAMILIES)
def test_unconstrained_answers_are_repaired_or_nulled_never_raised(family, tiny_vlms):
    schema = load_schema("denali")
    ex = load_extractor("vlm", schema, model=str(tiny_vlms[family]), constrained=False, max_new_tokens=24)
    for res in ex.extract(photos()):
        assert schema.validate(res.attributes).ok and set(res.attributes) == set(schema.fields)
        assert isinstance(res.raw, str)
        if not res.valid_raw:
            assert res.error  # what went wrong is kept with the raw text
    assert ex.last_stats["mask_seconds"] == 0.0


def test_the_prompt_is_the_schema_through_the_chat_template(tiny_vlms):
    schema = load_schema("denali")
    qwen = load_extractor("vlm", schema, model=str(tiny_vlms["qwen2_vl"]))
    text = qwen.prompt_text(1)
    assert text.startswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert '"sleeve_length": one of: sleeveless, short, three_quarter, long; null if not visible' in text
    three = qwen.prompt_text(3)
    assert three.count("<|image_pad|>") == 3 and "The 3 photos show the same item" in three
    idefics = load_extractor("vlm", schema, model=str(tiny_vlms["idefics3"]))
    assert idefics.prompt_text(2).count("<image>") == 2 and idefics.prompt_text(2).endswith("Assistant:")
    florence = load_extractor("vlm", schema, model=str(tiny_vlms["florence2"]))
    assert florence.prompt_text(1) == schema.prompt()  # no chat template: the plain instructions


def test_compact_prompt_explicit_prompt_and_the_prompt_a_model_records(tiny_vlms, tmp_path):
    import shutil

    schema = load_schema("denali")
    full = load_extractor("vlm", schema, model=str(tiny_vlms["qwen2_vl"]))
    compact = load_extractor("vlm", schema, model=str(tiny_vlms["qwen2_vl"]), prompt_style="compact")
    assert full.prompt_style == "full" and compact.instructions == schema.prompt("compact")
    tokens = [len(ex.tokenizer(ex.prompt_text(1))["input_ids"]) for ex in (full, compact)]
    assert tokens[1] < tokens[0] / 3
    assert all(f in compact.instructions for f in schema.fields) and "one of:" not in compact.instructions
    # a model trained under a prompt records it, and is asked with it unless told otherwise
    recorded = tmp_path / "model"
    shutil.copytree(tiny_vlms["qwen2_vl"], recorded)
    config = json.loads((recorded / "config.json").read_text())
    (recorded / "config.json").write_text(json.dumps({**config, "vestis_prompt": {"style": "compact"}}))
    assert load_extractor("vlm", schema, model=str(recorded)).instructions == compact.instructions
    told = load_extractor("vlm", schema, model=str(recorded), prompt_style="full")
    assert told.instructions == schema.prompt()
    own = load_extractor("vlm", schema, model=str(recorded), prompt="Say the JSON.")
    assert own.instructions == "Say the JSON." and own.prompt_record() == {"text": "Say the JSON."}
    (recorded / "config.json").write_text(json.dumps({**config, "vestis_prompt": {"text": "Say it."}}))
    assert load_extractor("vlm", schema, model=str(recorded)).prompt_record() == {"text": "Say it."}
    with pytest.raises(OptionsError, match="prompt_style"):
        load_extractor("vlm", schema, model=str(tiny_vlms["qwen2_vl"]), prompt_style="short")
    with pytest.raises(OptionsError, match="prompt style"):
        schema.prompt("short")
    with pytest.raises(OptionsError, match="not both"):
        load_extractor("vlm", schema, model=str(recorded), prompt="Say it.", prompt_style="compact")


@pytest.mark.parametrize("family", FAMILIES)
def test_several_photos_of_one_item(family, tiny_vlms):
    schema = load_schema("florence")
    ex = load_extractor("vlm", schema, model=str(tiny_vlms[family]), max_new_tokens=512)
    front, back, label = photos()
    results = ex.extract_items([[front, back, label], [back]])
    assert len(results) == 2
    for res in results:
        assert res.error is None and schema.validate(res.attributes).ok
    if family == "florence2":  # one image per prompt: three answers fused per field
        assert ex.joint_images is False and isinstance(results[0].raw, list) and len(results[0].raw) == 3
    else:  # one prompt holding the three photos
        assert ex.joint_images is True and isinstance(results[0].raw, str)
        assert schema.validate(results[0].raw).strict


def test_xgrammar_engine_gives_valid_json_too(tiny_vlms, user_schema):
    pytest.importorskip("xgrammar")
    schema = load_schema("florence")
    ex = load_extractor(
        "vlm", schema, model=str(tiny_vlms["qwen2_vl"]), engine="xgrammar", max_new_tokens=200
    )
    for res in ex.extract(photos()):
        assert res.error is None and schema.validate(res.raw).strict


def test_missing_model_errors_say_what_to_do(tmp_path: Path, tiny_vlm_dir):
    # No model named runs the shipped vestis-vlm-tiny (tests/models/test_vlm_tiny.py).
    with pytest.raises(ModelNotFound, match="not a local path and not obtainable from the hub"):
        load_extractor("vlm", model="nobody/no-such-vlm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="cannot load a vision-language model"):
        load_extractor("vlm", model=str(tmp_path / "empty"))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(OptionsError, match="needs a CUDA GPU"):
            load_extractor("vlm", model=str(tiny_vlm_dir), quantization="4bit")
    with pytest.raises(OptionsError, match="engine"):
        load_extractor("vlm", model=str(tiny_vlm_dir), engine="outlines")


def test_int8_quantizes_the_language_model_on_cpu_and_still_answers(tiny_vlms):
    import torch

    from vestis.models.quantization import int8_linear_class

    Int8Linear = int8_linear_class()
    schema = load_schema("denali")
    ex = load_extractor("vlm", schema, model=str(tiny_vlms["vestis_vlm"]), device="cpu", quantization="int8")
    decoder = {id(m) for m in ex.model.get_decoder().modules()}
    layers = {n: type(m) for n, m in ex.model.named_modules() if isinstance(m, torch.nn.Linear | Int8Linear)}
    quantized = [n for n, t in layers.items() if t is Int8Linear]
    assert "language_model.lm_head" in quantized and len(quantized) > 1
    for name in quantized:  # int8 weights, one scale per output channel
        layer = ex.model.get_submodule(name)
        assert layer.qweight.dtype == torch.int8 and layer.scale.shape == (layer.out_features,)
    assert all(layers[n] is torch.nn.Linear for n in layers if n.startswith("projector"))  # float
    assert all(id(ex.model.get_submodule(n)) in decoder for n in quantized if n != "language_model.lm_head")
    for res in ex.extract(photos()):
        assert res.error is None and schema.validate(res.raw).strict
    with pytest.raises(OptionsError, match="'4bit', '8bit', 'int8'"):
        load_extractor("vlm", schema, model=str(tiny_vlms["vestis_vlm"]), device="cpu", quantization="int4")
    with pytest.raises(OptionsError, match="runs on CPU: pass device=cpu"):
        load_extractor("vlm", schema, model=str(tiny_vlms["vestis_vlm"]), device="cuda", quantization="int8")
    mixed = load_extractor(
        "vlm",
        schema,
        model=str(tiny_vlms["vestis_vlm"]),
        device="cpu",
        quantization="int8",
        int8_float=["down_proj"],
    )
    kinds = {
        n: type(m) for n, m in mixed.model.named_modules() if isinstance(m, torch.nn.Linear | Int8Linear)
    }
    down = [n for n in kinds if n.endswith("down_proj")]
    assert down and all(kinds[n] is torch.nn.Linear for n in down)  # left in float
    assert all(kinds[n] is Int8Linear for n in quantized if not n.endswith("down_proj"))
    for res in mixed.extract(photos()):
        assert res.error is None and schema.validate(res.raw).strict
    with pytest.raises(OptionsError, match="int8_float names layers"):
        load_extractor(
            "vlm", schema, model=str(tiny_vlms["vestis_vlm"]), device="cpu", int8_float=["down_proj"]
        )


def test_dtype_chooses_the_weights_precision(tiny_vlm_dir):
    import torch

    schema = load_schema("denali")
    auto = load_extractor("vlm", schema, model=str(tiny_vlm_dir), device="cpu")
    assert auto.dtype == "float32" and auto.model.dtype == torch.float32  # auto on CPU
    half = load_extractor("vlm", schema, model=str(tiny_vlm_dir), device="cpu", dtype="bfloat16")
    assert half.model.dtype == torch.bfloat16
    for res in half.extract(photos()[:1]):
        assert res.error is None and schema.validate(res.raw).strict
    with pytest.raises(OptionsError, match="dtype must be one of 'auto', 'float32'"):
        load_extractor("vlm", schema, model=str(tiny_vlm_dir), dtype="float64")


def test_abstained_fields_are_answered_null_whatever_the_model_writes(tiny_vlm_dir):
    from vestis.extract.grammar import answer_text

    schema = load_schema("vestis")
    multi, single = "style", "category"
    written = answer_text(schema, {**schema.empty(), "style": ["sporty"], "category": "top", "colour": "red"})
    tokens = None
    for abstain, expected in ((None, (["sporty"], "top")), ([multi, single], ([], None))):
        ex = load_extractor("vlm", schema, model=str(tiny_vlm_dir), device="cpu", abstain=abstain)
        tokens = tokens or ex.tokenizer(written, add_special_tokens=False)["input_ids"]
        result = ex._result(tokens, [0.0] * len(tokens))
        assert result.raw == written and (result.attributes[multi], result.attributes[single]) == expected
        assert result.attributes["colour"] == "red" and result.confidence["colour"] == 1.0
    assert result.confidence[multi] == result.confidence[single] == 0.0
    ex.model.config.vestis_abstain = [multi, "not_in_this_schema"]  # recorded by the model
    ex._abstain_choice = None
    assert ex._abstained_fields() == {multi}
    with pytest.raises(OptionsError, match="lacks: nope"):
        load_extractor("vlm", schema, model=str(tiny_vlm_dir), device="cpu", abstain=["nope"])


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_forward_skips_forced_steps_and_changes_no_answer(family, tiny_vlms, monkeypatch):
    from vestis.extract.backends import vlm_decode

    schema = load_schema("vestis")
    runs = {}
    for fast_forward, width in ((False, "longest"), (True, "longest"), (True, "median"), (True, "one")):
        if width == "one":  # a backlog fed one token a step: rows decide at different steps
            monkeypatch.setattr(vlm_decode, "chunk_width", lambda backlogs, policy: 1)
        ex = load_extractor(
            "vlm",
            schema,
            model=str(tiny_vlms[family]),
            max_new_tokens=300,
            fast_forward=fast_forward,
            chunk_width="median" if width == "one" else width,
        )
        results = ex.extract(photos())
        runs[fast_forward, width] = (
            [r.raw for r in results],
            [r.confidence for r in results],
            ex.last_stats["steps"],
        )
    stepwise = runs[False, "longest"]
    for key in ((True, "longest"), (True, "median"), (True, "one")):
        assert runs[key][0] == stepwise[0]
        for fast, slow in zip(runs[key][1], stepwise[1], strict=True):
            assert fast == pytest.approx(slow, abs=1e-5)
    if vlm_decode.supported(ex.model):  # decoder-only, 1-D positions
        assert runs[True, "longest"][2] < 0.6 * stepwise[2]  # keys and pinned-down values take no step
        assert runs[True, "longest"][2] <= runs[True, "median"][2] < runs[True, "one"][2]
    else:
        assert runs[True, "longest"][2] == runs[True, "median"][2] == stepwise[2]
    assert vlm_decode.supported(ex.model) == (family in ("idefics3", "vestis_vlm"))


@pytest.mark.parametrize("family", ["idefics3", "vestis_vlm"])
def test_output_layer_for_choosing_rows_and_allowed_tokens_changes_no_answer(family, tiny_vlms, monkeypatch):
    from vestis.extract.backends import vlm_decode

    calls = []
    real = vlm_decode.output_layer

    def counting(head, rows, candidates=None):
        calls.append((len(rows), None if candidates is None else len(candidates)))
        return real(head, rows, candidates)

    monkeypatch.setattr(vlm_decode, "output_layer", counting)
    # one token a step: a row with forced tokens left feeds them without choosing
    monkeypatch.setattr(vlm_decode, "chunk_width", lambda backlogs, policy: 1)
    runs = {}
    for share in (0.0, vlm_decode.RESTRICT_SHARE):  # 0: every column, for every row that chooses
        monkeypatch.setattr(vlm_decode, "RESTRICT_SHARE", share)
        calls.clear()
        ex = load_extractor("vlm", load_schema("vestis"), model=str(tiny_vlms[family]), max_new_tokens=300)
        results = ex.extract(photos())
        runs[share] = ([r.raw for r in results], [r.confidence for r in results], list(calls))
    (every, every_conf, every_calls), (few, few_conf, few_calls) = runs[0.0], runs[vlm_decode.RESTRICT_SHARE]
    assert all(n is None for _, n in every_calls)
    vocab = ex.model.get_output_embeddings().out_features
    restricted = [n for _, n in few_calls if n is not None]
    assert len(restricted) > 10 and max(restricted) <= vlm_decode.RESTRICT_SHARE * vocab
    assert any(rows < len(photos()) for rows, _ in few_calls)  # rows feeding forced tokens get no logits
    assert few == every
    for fast, slow in zip(few_conf, every_conf, strict=True):
        assert fast == pytest.approx(slow, abs=1e-5)


def test_chunk_width_policies_and_the_option_check(tiny_vlm_dir):
    from vestis.extract.backends.vlm_decode import chunk_width

    assert chunk_width([3], "median") == 3 and chunk_width([1, 1, 1, 8] * 16, "median") == 1
    assert chunk_width([1, 1, 1, 8], "median") == 8  # too few positions for a narrow step
    assert chunk_width([1, 1, 1, 8], "longest") == 8
    assert load_extractor("vlm", model=str(tiny_vlm_dir), device="cpu").chunk_width == "median"
    with pytest.raises(OptionsError, match=r"chunk_width must be one of .auto., .longest., .median."):
        load_extractor("vlm", model=str(tiny_vlm_dir), chunk_width="widest")


def test_the_growing_cache_layer_holds_what_transformers_dynamic_layer_holds():
    import torch
    from transformers.cache_utils import DynamicCache, DynamicLayer

    from vestis.models.kv_cache import grow_in_place, growing_layer_class

    torch.manual_seed(0)
    reference, growing = DynamicCache(), DynamicCache()
    first = [torch.randn(4, 2, 5, 8) for _ in range(2)]
    for cache in (reference, growing):
        cache.update(*first, layer_idx=0)
    assert grow_in_place(growing, room=3) and isinstance(growing.layers[0], growing_layer_class())
    assert not grow_in_place(growing, room=3)  # already grown: nothing else to convert
    for width in (2, 1, 4):  # past the room allocated: it must reallocate, not overflow
        new = [torch.randn(4, 2, width, 8) for _ in range(2)]
        for got, want in zip(
            growing.update(*new, layer_idx=0), reference.update(*new, layer_idx=0), strict=True
        ):
            assert torch.equal(got, want)
    keep = torch.tensor([3, 0])
    reference.batch_select_indices(keep)
    growing.batch_select_indices(keep)
    reference.crop(-2)
    growing.crop(-2)
    new = [torch.randn(2, 2, 1, 8) for _ in range(2)]
    for got, want in zip(growing.update(*new, layer_idx=0), reference.update(*new, layer_idx=0), strict=True):
        assert torch.equal(got, want)
    assert growing.get_seq_length() == reference.get_seq_length() == 11
    assert type(reference.layers[0]) is DynamicLayer
