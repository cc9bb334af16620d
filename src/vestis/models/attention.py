"""Attention for grouped key/value heads on CPU, without copying the cache once per query head.

Models with fewer key/value heads than query heads (grouped-query attention: SmolLM2-135M has 3
for 9) keep a key-value cache of the smaller size. transformers' ``sdpa`` attention hands torch's
``scaled_dot_product_attention`` the grouped heads directly only when there is no attention mask;
with one (batched decoding with padding, always the case in the ``vlm`` backend) it first copies
every cached key and value once per query head of its group (``repeat_kv``), at every step and
every layer. On the 2-core CPU that copy was a third of a decoding step of vestis-vlm-tiny.

``sdpa_gqa`` is the same computation, masks included (it builds ``sdpa``'s), with torch reading
the groups itself (``enable_gqa``): :func:`use_grouped_sdpa` switches a model to it. A decoding
step of a few new tokens per row (:data:`FEW_QUERIES`) runs as two batched products instead.
"""

from __future__ import annotations

from typing import Any

NAME = "sdpa_gqa"
# up to this many new tokens per row, two batched matrix products beat torch's CPU kernel, which
# works through a masked step's few queries block by block (one thread: a third less time at 1–4)
FEW_QUERIES = 8


def sdpa_gqa_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers' attention-function signature: (batch, heads, q, d) queries against (batch,
    kv_heads, k, d) keys and values → ((batch, q, heads, d) output, no weights)."""
    import torch

    given = attention_mask
    if attention_mask is not None and attention_mask.ndim == 4:
        attention_mask = attention_mask[:, :, :, : key.shape[-2]]
    if (
        query.shape[2] <= FEW_QUERIES
        and attention_mask is not None
        and attention_mask.dtype == torch.bool
        and attention_mask.shape[1] == 1
        and not (module.training and dropout)
    ):
        return _grouped_matmul_attention(query, key, value, attention_mask, scaling, given), None
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = bool(causal) and attention_mask is None and query.shape[2] > 1
    out = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout if module.training else 0.0,
        scale=scaling,
        is_causal=causal,
        enable_gqa=key.shape[1] != query.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


# the additive mask of the last step: every layer of a forward pass gets the same mask tensor
_BIAS: tuple | None = None


def _grouped_matmul_attention(
    query: Any, key: Any, value: Any, mask: Any, scaling: float | None, given: Any = None
) -> Any:
    """Attention as two batched products, each query head group against its key/value head read
    in place: (batch, heads, q, d) → (batch, q, heads, d). ``mask``: (batch, 1, q, k), True = attend.

    The mask becomes an additive bias once per forward pass, added inside the first product
    (``baddbmm``) with the scaling: every layer receives the same mask tensor, ``given`` (the
    model's, before ``mask`` was cut to the keys' length), which identifies it."""
    import torch

    global _BIAS
    batch, heads, q, d = query.shape
    kv_heads, k = key.shape[1], key.shape[2]
    group = heads // kv_heads
    memo = _BIAS  # one read: another thread may replace it
    shape = (kv_heads, group, k, query.dtype)
    if given is not None and memo is not None and memo[0] is given and memo[1] == shape:
        bias = memo[2]
    else:
        hidden = ~mask.unsqueeze(2).expand(batch, kv_heads, group, q, k)
        bias = query.new_zeros(hidden.shape).masked_fill_(hidden, float("-inf"))
        bias = bias.view(batch * kv_heads, group * q, k)
        _BIAS = (given, shape, bias) if given is not None else None
    scores = torch.baddbmm(
        bias,
        query.reshape(batch * kv_heads, group * q, d),
        key.reshape(batch * kv_heads, k, d).transpose(1, 2),
        alpha=d**-0.5 if scaling is None else scaling,
    )
    out = torch.bmm(torch.softmax(scores, dim=-1), value.reshape(batch * kv_heads, k, d))
    return out.view(batch, heads, q, d).transpose(1, 2).contiguous()


def register() -> None:
    """Make ``attn_implementation="sdpa_gqa"`` known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, sdpa_gqa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def use_grouped_sdpa(model: Any) -> bool:
    """Switch ``model`` from ``sdpa`` to ``sdpa_gqa`` where that changes something: its text model
    groups key/value heads and uses ``sdpa``. Returns whether it switched."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads, kv_heads = getattr(text, "num_attention_heads", None), getattr(text, "num_key_value_heads", None)
    if not heads or not kv_heads or kv_heads == heads or text._attn_implementation != "sdpa":
        return False
    register()
    # the text model only: a vision tower's attention (Qwen2-VL's packs images by cu_seqlens) stays
    sub_configs = getattr(config, "sub_configs", None) or {}
    model.set_attn_implementation({"text_config": NAME} if "text_config" in sub_configs else NAME)
    return text._attn_implementation == NAME


__all__ = ["NAME", "register", "sdpa_gqa_attention", "use_grouped_sdpa"]
