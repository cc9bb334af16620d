"""The openai backend against a local fake endpoint: success, malformed JSON, refusals, retries, faults."""

from __future__ import annotations

import pytest
from PIL import Image

from vestis.extract.backends.openai_api import EndpointRejected
from vestis.extract.base import load_extractor
from vestis.schema import load_schema

RED, BLUE = Image.new("RGB", (40, 40), (220, 20, 20)), Image.new("RGB", (40, 40), (20, 20, 220))


def make(server, schema="vestis", **options):
    options = {"model": "test-model", "base_url": server.url, "api_key": "sk-test", "backoff": 0.0} | options
    return load_extractor("openai", schema, **options)


def test_success_sends_the_schema_and_reads_the_photo(fake_openai):
    results = make(fake_openai).extract([RED, BLUE])
    assert [r.attributes["colour"] for r in results] == ["red", "blue"]
    assert all(r.error is None and r.valid_raw for r in results)
    assert results[0].usage["prompt_tokens"] == 100 and results[0].usage["attempts"] == 1
    request = fake_openai.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    fmt = request["body"]["response_format"]["json_schema"]
    assert fmt["strict"] and set(fmt["schema"]["required"]) == set(load_schema("vestis").fields)
    assert "colour" in request["body"]["messages"][0]["content"]  # the schema's prompt


def test_endpoint_and_key_come_from_the_environment(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    result = load_extractor("openai", model="m").extract(RED)
    assert result.attributes["colour"] == "red" and fake_openai.requests[0]["auth"] == "Bearer sk-env"


def test_malformed_and_cut_answers_are_repaired_or_nulled_with_the_raw_text_kept(fake_openai):
    fake_openai.script.extend(["malformed", "length", "synonyms"])
    bad, cut, synonyms = make(fake_openai, concurrency=1).extract([RED, RED, RED])
    assert load_schema("vestis").validate(bad.attributes).ok and bad.raw.startswith('{"category"')
    assert not bad.valid_raw
    assert "max_tokens" in cut.error and cut.attributes["category"] is None
    assert synonyms.attributes["category"] == "dress" and synonyms.attributes["colour"] == "navy"
    assert synonyms.attributes["pattern"] is None and synonyms.repairs  # unknown value nulled, repairs listed


def test_refusal_is_a_null_result_with_the_reason(fake_openai):
    fake_openai.script.append("refusal")
    result = make(fake_openai).extract(RED)
    assert result.error.startswith("refused") and result.attributes == load_schema("vestis").empty()


@pytest.mark.parametrize("fault", ["429", "500", "drop", "timeout"])
def test_transient_faults_are_retried(fake_openai, fault):
    fake_openai.script.extend([fault, fault])
    fake_openai.hang_seconds = 1.5
    result = make(fake_openai, timeout=0.5).extract(RED)
    assert result.error is None and result.attributes["colour"] == "red"
    assert result.usage["attempts"] == 3


def test_retries_give_up_with_the_last_error(fake_openai):
    fake_openai.script.extend(["500"] * 5)
    result = make(fake_openai, max_retries=2).extract(RED)
    assert "HTTP 500" in result.error and result.usage["attempts"] == 3


def test_a_rejected_key_stops_with_one_clear_error(fake_openai):
    fake_openai.script.append("401")
    with pytest.raises(EndpointRejected, match="OPENAI_API_KEY"):
        make(fake_openai).extract(RED)


def test_several_photos_of_one_item_go_in_one_request(fake_openai):
    results = make(fake_openai).extract_items([[RED, BLUE], [BLUE]])
    assert [r.attributes["colour"] for r in results] == ["red", "blue"]
    counts = sorted(
        sum(c["type"] == "image_url" for c in r["body"]["messages"][-1]["content"])
        for r in fake_openai.requests
    )
    assert counts == [1, 2]


def test_every_preset_schema_gives_a_strict_response_format(fake_openai):
    for name in ("vestis", "florence", "denali"):
        result = make(fake_openai, schema=name).extract(RED)
        assert load_schema(name).validate(result.attributes).ok


def test_options_are_checked():
    from vestis.errors import OptionsError

    with pytest.raises(OptionsError, match="needs a model"):
        load_extractor("openai")
    with pytest.raises(OptionsError, match="concurency"):
        load_extractor("openai", model="m", concurency=2)
