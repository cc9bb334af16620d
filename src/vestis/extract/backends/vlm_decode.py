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

The key-value cache grows in place (:func:`vestis.models.kv_cache.grow_in_place`), and a row
leaves the batch, its cache with it, when it ends.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from vestis.extract.grammar import GrammarLogitsProcessor, allowed_at, allowed_tokens, apply_bitmask
from vestis.models.kv_cache import grow_in_place


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


WIDTHS = ("longest", "median")
# a CPU step of fewer positions than this leaves the matrix units idle (measured on 2 cores)
MIN_POSITIONS = 64


def chunk_width(backlogs: list[int], policy: str) -> int:
    """Tokens each row feeds the model at the next step, given the rows' backlogs (tokens chosen
    or forced but not yet run through the model).

    ``longest`` takes every row's whole backlog in one step: fewest steps, the most padding (a
    row with one token is padded to the longest row's). ``median`` takes the median backlog, or
    more while the step would have fewer than :data:`MIN_POSITIONS` positions: a row with more
    feeds the rest at the following steps without a decision of its own (its forced tokens need
    none), so fewer positions are padding. On the CPU, where a step costs about what its positions
    cost once it has enough of them, ``median`` is faster at batch 64 and ``longest`` at batch 16;
    on a GPU, where a step costs about the same whatever its width, ``longest`` is.

    >>> chunk_width([1, 1, 6, 2, 9], "longest"), chunk_width([1, 1, 6, 2, 9], "median")
    (9, 9)
    >>> chunk_width([1, 1, 6, 2, 9] * 16, "median"), chunk_width([1, 3, 6, 2, 9] * 8, "median")
    (2, 3)
    """
    longest = max(backlogs)
    if policy == "longest":
        return longest
    median = sorted(backlogs)[(len(backlogs) - 1) // 2]
    return max(1, median, min(longest, -(-MIN_POSITIONS // len(backlogs))))


# the output layer is computed for the grammar's allowed tokens alone while they are at most this
# share of the vocabulary (an enum's first tokens, a closing quote), else for all of it
RESTRICT_SHARE = 0.25


@contextlib.contextmanager
def output_layer(head: Any, rows: list[int], tokens: Any = None) -> Iterator[bool]:
    """Within the block, the model's output layer ``head`` (``get_output_embeddings()``, or None)
    computes the batch rows ``rows`` only (a row still feeding forced tokens needs no logits),
    and, given ``tokens``, those columns only: the logits are (len(rows), …, len(tokens)). The
    layer's 49k outputs per row are a twentieth of vestis-vlm-tiny; an answer's next token mostly
    has a handful of candidates. Yields whether it applies: a model without
    ``get_output_embeddings``, or with an output layer that is neither ``nn.Linear`` nor int8,
    computes every row and column as usual."""
    import torch

    if head is None or not (isinstance(head, torch.nn.Linear) or hasattr(head, "columns")):
        yield False
        return
    index = torch.tensor(rows)
    kept: list[Any] = []
    caller = threading.get_ident()  # the hooks are the module's: another thread's calls pass through

    def keep_rows(module: Any, args: tuple) -> tuple | None:
        if threading.get_ident() != caller:
            return None
        hidden = args[0].index_select(0, index.to(args[0].device))
        if tokens is None:
            return (hidden, *args[1:])
        kept.append(hidden)
        return (hidden[:0], *args[1:])  # the layer's own product on no row: replaced below

    def those_columns(module: Any, args: tuple, output: Any) -> Any:
        if tokens is None or threading.get_ident() != caller:
            return output
        hidden, columns = kept.pop(), tokens.to(output.device)
        if hasattr(module, "columns"):
            return module.columns(hidden, columns)
        bias = None if module.bias is None else module.bias[columns]
        return torch.nn.functional.linear(hidden, module.weight.index_select(0, columns), bias)

    handles = [head.register_forward_pre_hook(keep_rows), head.register_forward_hook(those_columns)]
    try:
        yield True
    finally:
        for handle in handles:
            handle.remove()


def generate(
    model: Any,
    inputs: dict[str, Any],
    grammar: GrammarLogitsProcessor,
    eos_ids: list[int],
    pad_id: int,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    width: str = "longest",
) -> tuple[list[list[int]], list[list[float]], int]:
    """Per row, the generated tokens (ending with EOS unless cut) and their log-probabilities
    (0 for forced tokens), and the number of decoding steps taken.

    A row leaves the batch when it ends (its cache rows are dropped); ``width`` is the policy of
    :func:`chunk_width`.
    """
    import torch
    from transformers import LogitsProcessorList

    from vestis.extract.grammar import ChosenTokenLogprobs

    if width not in WIDTHS:
        raise ValueError(f"width must be one of {', '.join(WIDTHS)}, not {width!r}")
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
    grow_in_place(cache, max_new_tokens)
    rows = first.sequences.shape[0]
    # rows that chose a token at the last step: token, log-probability (rows still feeding have none)
    decided: dict[int, tuple[int, float]] = dict(
        enumerate(
            zip(
                first.sequences[:, -1].tolist(),
                recorder.finish(first.sequences[:, -1])[:, 0].tolist(),
                strict=True,
            )
        )
    )
    tokens: list[list[int]] = [[] for _ in range(rows)]
    logprobs: list[list[float]] = [[] for _ in range(rows)]
    backlog: list[list[int]] = [[] for _ in range(rows)]
    active = list(range(rows))  # the original rows still in the batch, in the cache's order
    attention = inputs["attention_mask"]
    keyword = cache_keyword(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = getattr(head, "out_features", None)  # the logits' width, where the output layer says
    steps = 1
    while True:
        ended = set()
        for row, (token, lp) in decided.items():
            forced = [] if token in eos_ids else grammar.advance(row, token, fast_forward=True)
            new = [token, *forced][: max_new_tokens - len(tokens[row])]
            tokens[row] += new
            logprobs[row] += [lp] + [0.0] * (len(new) - 1)
            if token in eos_ids or len(tokens[row]) >= max_new_tokens:
                ended.add(row)
            else:
                backlog[row] = new
        if ended:
            keep = [i for i, row in enumerate(active) if row not in ended]
            active = [active[i] for i in keep]
            if not active:
                return tokens, logprobs, steps
            index = torch.tensor(keep, device=attention.device)
            cache.batch_select_indices(index)
            attention = attention[index]
        step = chunk_width([len(backlog[row]) for row in active], width)
        chunk = torch.full((len(active), step), pad_id, dtype=torch.long)
        mask = torch.zeros((len(active), step), dtype=attention.dtype)
        for i, row in enumerate(active):
            feed, backlog[row] = backlog[row][:step], backlog[row][step:]
            chunk[i, step - len(feed) :] = torch.tensor(feed)
            mask[i, step - len(feed) :] = 1
        attention = torch.cat([attention, mask.to(attention.device)], dim=1)
        positions = (attention.long().cumsum(1) - 1).clamp(min=0)[:, -step:]
        # rows whose backlog this step empties choose a token; the others need no logits
        ready = [i for i, row in enumerate(active) if not backlog[row]]
        bits = grammar.bitmask([active[i] for i in ready]) if ready else None
        candidates = allowed_tokens(bits, vocab) if ready and vocab else None
        if candidates is not None and len(candidates) > RESTRICT_SHARE * vocab:
            candidates = None
        with output_layer(head, ready or [0], candidates) as applied:
            out = model(
                input_ids=chunk.to(attention.device),
                attention_mask=attention,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{keyword: cache},
            )
        cache = getattr(out, "cache", None) or out.past_key_values
        steps += 1
        decided = {}
        if not ready:
            continue
        scores = (out.logits[:, -1] if applied else out.logits[ready, -1]).float()
        if applied and candidates is not None:
            scores.masked_fill_(~allowed_at(bits, candidates).to(scores.device), float("-inf"))
        else:
            apply_bitmask(scores, bits)
        if do_sample:
            picked = torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1).squeeze(1)
        else:
            picked = scores.argmax(dim=-1)
        lp = torch.log_softmax(scores, dim=-1).gather(1, picked.unsqueeze(1)).squeeze(1)
        if applied and candidates is not None:
            picked = candidates.to(picked.device)[picked]
        decided = {
            active[i]: (token, logprob)
            for i, token, logprob in zip(ready, picked.tolist(), lp.tolist(), strict=True)
        }


__all__ = ["WIDTHS", "cache_keyword", "chunk_width", "generate", "output_layer", "supported"]
