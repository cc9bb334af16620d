"""Constrained decoding that fast-forwards what the grammar forces.

In the schema's compact JSON most tokens have no alternative: every key, its quotes and colon,
and the rest of a value once its first tokens single it out (``"animal`` → ``_print"``). With
:meth:`GrammarLogitsProcessor.advance` ``(fast_forward=True)`` those tokens are appended without
a decoding step of their own; they enter the model with the next step's token, as a chunk of
several tokens per row (left-padded within the chunk, so that every row's newest token is the
chunk's last: the attention mask hides the padding, positions come from it, and the output layer
runs on that one position only). On the vestis schema about 60% of
an answer's tokens are forced, so an answer takes well under half the sequential steps.

The prompt's first token is produced by the model's own ``generate`` (so its prefill keeps
whatever the model does there: image features, a shared prompt prefix), the rest here.
Decoder-only models with 1-D positions only (not encoder-decoders, not Qwen2-VL's 3-D M-RoPE):
:func:`supported`.
"""

from __future__ import annotations

import inspect
from typing import Any

from vestis.extract.grammar import GrammarLogitsProcessor


def supported(model: Any) -> bool:
    """True when the model can take several new tokens per row with explicit 1-D position ids."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None) or {}
    return "mrope_section" not in rope and "position_ids" in _forward_parameters(model)


def _forward_parameters(model: Any) -> set[str]:
    params = set(inspect.signature(model.forward).parameters)
    if "kwargs" in params:  # a wrapper (vestis-vlm-tiny) passes the rest to its language model
        params |= set(inspect.signature(model.get_decoder().forward).parameters)
    return params


def cache_keyword(model: Any) -> str:
    """What the model's forward calls the key-value cache (``cache`` from transformers 5.x on)."""
    return "cache" if "cache" in _forward_parameters(model) else "past_key_values"


def generate(
    model: Any,
    inputs: dict[str, Any],
    grammar: GrammarLogitsProcessor,
    eos_ids: list[int],
    pad_id: int,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
) -> tuple[list[list[int]], list[list[float]], int]:
    """Per row, the generated tokens (ending with EOS unless cut) and their log-probabilities
    (0 for forced tokens), and the number of decoding steps taken."""
    import torch
    from transformers import LogitsProcessorList

    from vestis.extract.grammar import ChosenTokenLogprobs

    recorder = ChosenTokenLogprobs()
    first = model.generate(
        **inputs,
        logits_processor=LogitsProcessorList([grammar, recorder]),
        max_new_tokens=1,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        do_sample=do_sample,
        **({"temperature": temperature} if do_sample else {}),
        return_dict_in_generate=True,
    )
    cache = getattr(first, "cache", None) or first.past_key_values
    chosen = first.sequences[:, -1].tolist()
    chosen_lp = recorder.finish(first.sequences[:, -1])[:, 0].tolist()
    rows = len(chosen)
    tokens: list[list[int]] = [[] for _ in range(rows)]
    logprobs: list[list[float]] = [[] for _ in range(rows)]
    done = [False] * rows
    attention = inputs["attention_mask"]
    keyword = cache_keyword(model)
    steps = 1
    while True:
        pending: list[list[int]] = [[] for _ in range(rows)]
        for row in range(rows):
            if done[row]:
                continue
            token = chosen[row]
            forced = [] if token in eos_ids else grammar.advance(row, token, fast_forward=True)
            room = max_new_tokens - len(tokens[row])
            new = [token, *forced][:room]
            tokens[row] += new
            logprobs[row] += [chosen_lp[row]] + [0.0] * (len(new) - 1)
            done[row] = token in eos_ids or len(tokens[row]) >= max_new_tokens
            pending[row] = [] if done[row] else new
        if all(done):
            return tokens, logprobs, steps
        width = max(len(p) for p in pending)
        chunk = torch.full((rows, width), pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=attention.dtype)
        for row, new in enumerate(pending):
            if new:
                chunk[row, width - len(new) :] = torch.tensor(new)
                mask[row, width - len(new) :] = 1
        attention = torch.cat([attention, mask.to(attention.device)], dim=1)
        positions = (attention.long().cumsum(1) - 1).clamp(min=0)[:, -width:]
        out = model(
            input_ids=chunk.to(attention.device),
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{keyword: cache},
        )
        cache = getattr(out, "cache", None) or out.past_key_values
        scores = grammar.mask(out.logits[:, -1].float())
        if do_sample:
            picked = torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1).squeeze(1)
        else:
            picked = scores.argmax(dim=-1)
        lp = torch.log_softmax(scores, dim=-1).gather(1, picked.unsqueeze(1)).squeeze(1)
        chosen, chosen_lp = picked.tolist(), lp.tolist()
        steps += 1


__all__ = ["cache_keyword", "generate", "supported"]
