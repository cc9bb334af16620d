"""sdpa_gqa: the same attention as transformers' sdpa without per-head copies of the cache."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("llguidance")

from PIL import Image  # noqa: E402

from vestis.extract.base import load_extractor  # noqa: E402
from vestis.models.attention import NAME, use_grouped_sdpa  # noqa: E402
from vestis.schema import load_schema  # noqa: E402

DECODERS = ("idefics3", "qwen2_vl", "vestis_vlm")


def photos() -> list[Image.Image]:
    return [Image.new("RGB", (48 + 16 * i, 64), c) for i, c in enumerate(("red", "navy", "white"))]


@pytest.mark.parametrize("family", DECODERS)
def test_grouped_attention_gives_the_same_logits_and_answers(family, tiny_vlms):
    schema = load_schema("denali")
    ex = load_extractor("vlm", schema, model=str(tiny_vlms[family]), device="cpu", max_new_tokens=40)
    text = ex.model.config.get_text_config()
    assert text._attn_implementation == NAME  # the backend switched it on CPU (the tiny models group heads)
    grouped = [r.raw for r in ex.extract(photos())]
    inputs = ex.model_inputs([[im] for im in photos()])  # left padded: a real mask
    with torch.inference_mode():
        new = ex.model(**inputs).logits
        ex.model.set_attn_implementation({"text_config": "sdpa"})
        assert text._attn_implementation == "sdpa"
        old = ex.model(**inputs).logits
    keep = inputs["attention_mask"].bool()
    assert torch.allclose(new[keep], old[keep], atol=1e-5)
    assert [r.raw for r in ex.extract(photos())] == grouped
    vision = getattr(ex.model.config, "vision_config", None)
    assert vision is None or vision._attn_implementation != NAME  # the vision tower keeps its own


def test_models_without_grouped_heads_are_left_alone(tiny_vlms):
    ex = load_extractor("vlm", load_schema("denali"), model=str(tiny_vlms["florence2"]), device="cpu")
    assert use_grouped_sdpa(ex.model) is False


@pytest.mark.parametrize("queries", [1, 3, 8, 9])
def test_few_queries_match_torchs_kernel(queries):
    """A step of a few new tokens per row takes the batched-product path; it must agree with torch's
    kernel on left-padded rows and on a cache read through a view of a longer buffer."""
    from vestis.models.attention import FEW_QUERIES, sdpa_gqa_attention

    torch.manual_seed(0)
    batch, heads, kv_heads, d, k = 4, 6, 2, 16, 30
    query = torch.randn(batch, heads, queries, d)
    key = torch.randn(batch, kv_heads, k + 10, d)[:, :, :k]
    value = torch.randn(batch, kv_heads, k + 10, d)[:, :, :k]
    causal = torch.ones(queries, k, dtype=torch.bool).tril(k - queries)
    padded = torch.arange(k) >= torch.tensor([0, 3, 7, 1]).unsqueeze(1)  # left padding per row
    mask = (causal & padded[:, None, :])[:, None]
    module = torch.nn.Module().eval()
    out, _ = sdpa_gqa_attention(module, query, key, value, mask, scaling=0.3)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, scale=0.3, enable_gqa=True
    ).transpose(1, 2)
    assert out.shape == (batch, queries, heads, d)
    assert torch.allclose(out, expected, atol=1e-5)
    assert (queries <= FEW_QUERIES) == (queries != 9)
    # the next step's mask (another tensor, same shape) is not taken for the last one's
    other = mask.clone()
    other[2, ..., 10:14] = False
    out, _ = sdpa_gqa_attention(module, query, key, value, other, scaling=0.3)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=other, scale=0.3, enable_gqa=True
    ).transpose(1, 2)
    assert torch.allclose(out, expected, atol=1e-5)
