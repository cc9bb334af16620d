"""The schema grammar, checked token by token against both engines with a byte-level tokenizer."""

from __future__ import annotations

import json

import pytest

from vestis.extract.backends.vlm import value_spans
from vestis.extract.grammar import answer_text, decoding_schema, get_engine, grammar_text
from vestis.schema import list_schemas, load_schema

DENALI = load_schema("denali")
BASE = DENALI.empty() | {"type": "jeans", "color": "navy"}
# (brand, size) → strictly valid as written?
CASES = [
    ((None, None), True),
    (("Levi's 501", "W32 L34"), True),
    (("x" * 60, None), True),
    (("x" * 61, None), False),  # max_length
    ((" Levi", None), False),  # whitespace the validator would strip
    (("N/A", None), False),  # a spelling of null the validator would null
    (("None-", None), False),
    ((None, "-"), False),
    ((None, "32!"), False),  # the field's pattern
]


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers")
    from tests.tiny_vlm import byte_bpe_tokenizer

    return byte_bpe_tokenizer(["<pad>", "<eos>"], pad_token="<pad>", eos_token="<eos>")


def _accepts(engine, compiled, tokenizer, text: str) -> bool:
    import torch

    matcher = engine.matcher(compiled)
    mask = torch.full((1, (engine.vocab_size + 31) // 32), -1, dtype=torch.int32)
    for token in [*tokenizer.encode(text), tokenizer.eos_token_id]:
        engine.fill(matcher, mask, 0)
        if not (int(mask[0, token // 32]) >> (token % 32)) & 1:
            return False
        engine.advance(matcher, token)
    return engine.done(matcher)


@pytest.mark.parametrize("name", ["llguidance", "xgrammar"])
def test_the_grammar_admits_exactly_the_strictly_valid_answers(name, tokenizer):
    pytest.importorskip(name)
    engine = get_engine(name, tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    compiled = engine.compiled(DENALI)
    assert engine.compiled(DENALI) is compiled  # cached per (tokenizer, schema)
    for (brand, size), strict in CASES:
        text = json.dumps(BASE | {"brand": brand, "size": size}, separators=(",", ":"))
        assert DENALI.validate(text).strict == strict, text
        if name == "xgrammar" and (brand, size) in (
            ("N/A", None),
            ("None-", None),
            (None, "-"),
            (None, "32!"),
        ):
            assert _accepts(engine, compiled, tokenizer, text)  # what xgrammar cannot enforce
            assert any("brand" in u for u in engine.unsupported(DENALI))
        else:
            assert _accepts(engine, compiled, tokenizer, text) == strict, (name, text)
    assert not _accepts(engine, compiled, tokenizer, json.dumps(BASE))  # whitespace: compact JSON only
    assert not _accepts(engine, compiled, tokenizer, json.dumps(BASE, separators=(",", ":"))[:-1])


def test_multi_fields_are_distinct_values_in_vocabulary_order(tokenizer):
    pytest.importorskip("llguidance")
    schema = load_schema("florence")
    engine = get_engine("llguidance", tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    compiled = engine.compiled(schema)
    style = list(schema.fields["style"].values)
    obj = schema.empty() | {"category": "dress"}
    for value, ok in (
        ([], True),
        ([style[0], style[3]], True),
        ([style[3], style[0]], False),
        ([style[1]] * 2, False),
    ):
        assert (
            _accepts(engine, compiled, tokenizer, json.dumps(obj | {"style": value}, separators=(",", ":")))
            == ok
        )
    assert decoding_schema(schema)["properties"]["style"]["maxItems"] == len(style)


def test_grammar_texts_name_every_field_in_order():
    for dialect in ("lark", "ebnf"):
        first = grammar_text(DENALI, dialect).splitlines()[0]
        assert [w for w in first.split() if w.startswith("f_")] == [f"f_{n}" for n in DENALI.fields]


def test_value_spans_locate_each_value():
    text = '{"type":"jeans","color":null,"closure":["zip"],"brand":"A, \\"B\\""}'
    spans = value_spans(text)
    assert {k: text[a:b] for k, (a, b) in spans.items()} == {
        "type": '"jeans"',
        "color": "null",
        "closure": '["zip"]',
        "brand": '"A, \\"B\\""',
    }
    assert value_spans("no json here") == {} and value_spans('{"type": "je') == {}


def test_engines_are_cached_by_tokenizer_content_not_object_identity(tokenizer):
    """A freed tokenizer's id is reused by the next object; its engine must not be."""
    pytest.importorskip("llguidance")
    import gc

    from tests.tiny_vlm import byte_bpe_tokenizer

    def build(eos: str):
        return byte_bpe_tokenizer(["<pad>", eos], pad_token="<pad>", eos_token=eos)

    engine = get_engine("llguidance", tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    same = build("<eos>")
    assert get_engine("llguidance", same, len(same), [same.eos_token_id]) is engine
    size, eos = len(tokenizer), [tokenizer.eos_token_id]
    for _ in range(3):  # other vocabularies of the same size and EOS id, built where a freed one lay
        other = build("<end>")
        assert len(other) == size and other.eos_token_id == eos[0]
        old = get_engine("llguidance", other, size, eos)
        assert old is not engine
        del other
        gc.collect()
        fresh = build("<stop>")
        assert get_engine("llguidance", fresh, size, eos) is not old


@pytest.mark.parametrize("preset", list_schemas())
def test_answer_text_writes_what_the_grammar_admits(preset, tokenizer):
    """Training targets (lora-sft) are the text constrained decoding would write, on every preset."""
    pytest.importorskip("llguidance")
    schema = load_schema(preset)
    engine = get_engine("llguidance", tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    compiled = engine.compiled(schema)
    full = {
        name: (list(reversed(f.vocabulary))[:3] if f.kind == "multi" else f.vocabulary[-1])
        if f.closed
        else "Levi's 501"
        for name, f in schema.fields.items()
        if not f.pattern
    }
    for value in (schema.empty(), full):
        text = answer_text(schema, value)
        assert _accepts(engine, compiled, tokenizer, text), text
        written = schema.validate(text)
        assert written.strict
        for name, v in schema.validate(value).value.items():  # the same values, a multi field's in order
            assert written.value[name] == (
                sorted(v, key=schema.fields[name].vocabulary.index) if isinstance(v, list) else v
            )
