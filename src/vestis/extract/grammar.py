"""Grammar-constrained decoding: a schema becomes a grammar, the grammar a transformers logits processor.

:func:`decoding_schema` is the schema as a strict JSON Schema
(:func:`~vestis.schema.structured.structured_output_schema`) tightened until every string it admits
validates *strictly* (no repair): text fields get ``maxLength`` and their ``pattern``, multi fields
``uniqueItems`` and ``maxItems``. :func:`grammar_text` writes that JSON Schema as a grammar for
compact JSON (no whitespace, keys in schema order) in which

- a closed field is one of its values (or ``null`` when nullable);
- a multi field is a list of distinct values in vocabulary order (so it is finite: at most one
  of each, and never a duplicate the validator would drop);
- a text field is a string without escapes, 1 to ``maxLength`` characters, no leading or trailing
  whitespace, matching the field's ``pattern``, and not a spelling of null ("n/a", "none"), which
  the validator would turn into null. Only llguidance can intersect and negate regular
  expressions, so with xgrammar the last two constraints are dropped (:meth:`Engine.unsupported`
  names the fields) and such a value is repaired to null rather than valid as written.

Two engines sit behind one interface (:class:`Engine`): ``llguidance`` (the default, chosen by
measurement: ``benchmarks/constrained_decoding.py``, see docs/benchmarks.md) and ``xgrammar``.
Compiled grammars are cached per (engine, tokenizer, schema).

>>> from vestis.schema import load_schema
>>> print(grammar_text(load_schema("denali"), "lark").splitlines()[0][:60])
start: "{" f_type "," f_color "," f_pattern "," f_neckline "
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from vestis.errors import OptionsError
from vestis.schema import Schema
from vestis.schema.model import NULL_WORDS
from vestis.schema.structured import structured_output_schema

ENGINES = ("llguidance", "xgrammar")
DEFAULT_ENGINE = "llguidance"
# Characters a text value may hold: anything but quotes, backslashes and control characters,
# so the JSON string needs no escapes and the decoded text is what was written.
_CHAR = r'[^"\\\x00-\x1f]'
# Python's str.strip() whitespace above the control range, spelled out for engines without \s.
_SPACES = r"\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SEPARATORS = r"[\s_\-\/]"  # what normalise_token folds into one space


def decoding_schema(schema: Schema) -> dict[str, Any]:
    """The strict JSON Schema plus the bounds that make every admitted object validate strictly."""
    out = structured_output_schema(schema)
    for f in schema.fields.values():
        prop = out["properties"][f.name]
        if f.kind == "text":
            prop["minLength"], prop["maxLength"] = 1, f.max_length
            if f.pattern:
                prop["pattern"] = f.pattern
        elif f.kind == "multi":
            prop["uniqueItems"], prop["maxItems"] = True, len(f.values)
    return out


def grammar_text(schema: Schema, dialect: str) -> str:
    """The grammar of :func:`decoding_schema` in ``lark`` (llguidance) or ``ebnf`` (xgrammar) syntax."""
    if dialect not in ("lark", "ebnf"):
        raise ValueError(f"unknown grammar dialect {dialect!r}")
    lark = dialect == "lark"
    arrow, start = (":", "start") if lark else ("::=", "root")
    props = decoding_schema(schema)["properties"]
    names = list(props)
    rules = [
        f"{start}{arrow} "
        + ' "," '.join(['"{" ' + f"f_{_id(names[0])}", *(f"f_{_id(n)}" for n in names[1:])])
        + ' "}"'
    ]
    for name, prop in props.items():
        key = _lit(json.dumps(name) + ":")
        rules.append(f"f_{_id(name)}{arrow} {key} v_{_id(name)}")
        rules.extend(_value_rules(f"v_{_id(name)}", prop, arrow, lark))
    return "\n".join(rules) + "\n"


def answer_text(schema: Schema, value: dict[str, Any]) -> str:
    """A valid object written as the grammar writes it: compact JSON, keys in schema order, a multi
    field's values in vocabulary order, text values unescaped. Training targets are written so, and
    a fine-tuned model learns the very text constrained decoding lets it write.

    >>> from vestis.schema import load_schema
    >>> answer_text(load_schema("florence"), {"category": "top", "occasion": ["work", "everyday"]})
    '{"category":"top","color":null,"material":null,"style":[],"occasion":["everyday","work"]}'
    """
    parts = []
    for name, f in schema.fields.items():
        v = value.get(name)
        if f.kind == "multi":
            order = list(f.values)
            text = "[" + ",".join(json.dumps(x) for x in sorted(set(v or []), key=order.index)) + "]"
        elif v is None:
            text = "null"
        elif f.kind == "text" and not re.search(r'["\\\x00-\x1f]', v):
            text = f'"{v}"'
        else:
            text = json.dumps(v)
        parts.append(f"{json.dumps(name)}:{text}")
    return "{" + ",".join(parts) + "}"


def _value_rules(rule: str, prop: dict[str, Any], arrow: str, lark: bool) -> list[str]:
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    null = ['"null"'] if "null" in types else []
    if "array" in types:
        values = [_lit(json.dumps(v)) for v in prop["items"]["enum"]]
        # t_i: the distinct values from index i on, in order ("a" | "a" "," t_{i+1} | t_{i+1}).
        out = [f'{rule}{arrow} "[" "]" | "[" {rule}_t0 "]"']
        for i, v in enumerate(values):
            nxt = f"{rule}_t{i + 1}"
            out.append(
                f"{rule}_t{i}{arrow} {v}" + (f' | {v} "," {nxt} | {nxt}' if i + 1 < len(values) else "")
            )
        return out
    if "enum" in prop:
        return [
            f"{rule}{arrow} "
            + " | ".join([*null, *(_lit(json.dumps(v)) for v in prop["enum"] if v is not None)])
        ]
    text = f"{rule}_s".upper() if lark else f"{rule}_s"
    return [f"{rule}{arrow} " + " | ".join([*null, text]), _text_rule(text, prop, arrow, lark)]


def _text_rule(name: str, prop: dict[str, Any], arrow: str, lark: bool) -> str:
    n = prop["maxLength"]
    edge = f'[^"\\\\\\x00-\\x20{_SPACES}]'  # no whitespace at either end
    body = edge + (f"({_CHAR}{{0,{n - 2}}}{edge})?" if n > 1 else "")
    if not lark:
        return f'{name}{arrow} "\\"" {body} "\\""'
    parts = [f"/{body}/", f"~/{_null_words_regex()}/"]
    if prop.get("pattern"):
        parts.append(f"/{_unanchored(prop['pattern'])}/")
    return f'{name}{arrow} "\\"" ({" & ".join(parts)}) "\\""'


def _null_words_regex() -> str:
    """Every spelling the validator reads as null, case-insensitively, with any separators."""
    alts = [f"{_SEPARATORS}+".join(re.escape(t) for t in word.split()) for word in sorted(NULL_WORDS)]
    return f"(?i:{_SEPARATORS}*(" + "|".join(a for a in alts if a) + f")?{_SEPARATORS}*)"


def _unanchored(pattern: str) -> str:
    pattern = pattern[1:] if pattern.startswith("^") else pattern
    pattern = pattern[:-1] if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    return pattern.replace("/", "\\/")


def _lit(text: str) -> str:
    return json.dumps(text)


def _id(name: str) -> str:
    return re.sub(r"\W", "_", name)


# ---- engines -----------------------------------------------------------------------------------
class Engine(ABC):
    """One grammar engine for one tokenizer: compiles schemas (cached) and makes per-sequence matchers."""

    name: ClassVar[str]

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> None:
        self.vocab_size = vocab_size
        self.eos_ids = eos_ids
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.compile_seconds: dict[str, float] = {}

    def compiled(self, schema: Schema) -> Any:
        key = json.dumps(schema.to_dict(), sort_keys=True)
        with self._lock:
            if key not in self._compiled:
                t0 = time.perf_counter()
                self._compiled[key] = self._compile(schema)
                self.compile_seconds[schema.name] = time.perf_counter() - t0
            return self._compiled[key]

    def unsupported(self, schema: Schema) -> list[str]:
        """What the grammar cannot enforce for this schema with this engine (empty: everything)."""
        return []

    @abstractmethod
    def _compile(self, schema: Schema) -> Any: ...

    @abstractmethod
    def matcher(self, compiled: Any) -> Any:
        """A fresh matcher (one per generated sequence)."""

    @abstractmethod
    def fill(self, matcher: Any, bitmask: Any, row: int) -> None:
        """Write the allowed next tokens of ``matcher`` into ``bitmask[row]``."""

    @abstractmethod
    def advance(self, matcher: Any, token: int) -> None:
        """Consume a generated token (an error if the grammar forbids it)."""

    @abstractmethod
    def done(self, matcher: Any) -> bool:
        """True when the sequence is complete (the object closed and a stop token consumed)."""

    def error(self, matcher: Any) -> str | None:
        """Why the matcher gave up (a resource limit of the engine), else None."""
        return None

    def forced_tokens(self, matcher: Any) -> list[int]:
        """The tokens the grammar allows no alternative to from here (not consumed); [] if unknown."""
        return []


class LLGuidanceEngine(Engine):
    name = "llguidance"

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> None:
        super().__init__(tokenizer, vocab_size, eos_ids)
        import llguidance.hf

        self._tok = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos_ids)

    def _compile(self, schema: Schema) -> Any:
        import llguidance

        grammar = llguidance.LLMatcher.grammar_from_lark(grammar_text(schema, "lark"))
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self._tok)
        if is_error:
            raise OptionsError(f"schema {schema.name!r} does not compile to a grammar: {messages[0]}")
        return grammar

    def matcher(self, compiled: Any) -> Any:
        import llguidance

        return llguidance.LLMatcher(self._tok, compiled, log_level=0)

    def fill(self, matcher: Any, bitmask: Any, row: int) -> None:
        v = bitmask[row]
        matcher.unsafe_compute_mask_ptr(v.data_ptr(), v.numel() * v.element_size())

    def advance(self, matcher: Any, token: int) -> None:
        if not matcher.consume_token(token):
            raise RuntimeError(f"llguidance rejected token {token}: {matcher.get_error()}")

    def done(self, matcher: Any) -> bool:
        return matcher.is_stopped() or matcher.is_error()

    def error(self, matcher: Any) -> str | None:
        return matcher.get_error().splitlines()[0] if matcher.is_error() else None

    def forced_tokens(self, matcher: Any) -> list[int]:
        return [] if self.done(matcher) else list(matcher.compute_ff_tokens())


class XGrammarEngine(Engine):
    name = "xgrammar"

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> None:
        super().__init__(tokenizer, vocab_size, eos_ids)
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=eos_ids)
        self._compiler = xgr.GrammarCompiler(info, max_threads=1)

    def unsupported(self, schema: Schema) -> list[str]:
        return [
            f"{f.name}: pattern and null spellings not enforced (no regex intersection or negation)"
            for f in schema.fields.values()
            if f.kind == "text"
        ]

    def _compile(self, schema: Schema) -> Any:
        return self._compiler.compile_grammar(grammar_text(schema, "ebnf"))

    def matcher(self, compiled: Any) -> Any:
        import xgrammar as xgr

        return xgr.GrammarMatcher(compiled)

    def fill(self, matcher: Any, bitmask: Any, row: int) -> None:
        matcher.fill_next_token_bitmask(bitmask, row)

    def advance(self, matcher: Any, token: int) -> None:
        if not matcher.accept_token(token):
            raise RuntimeError(f"xgrammar rejected token {token}")

    def done(self, matcher: Any) -> bool:
        return matcher.is_terminated()


_ENGINE_CLASSES: dict[str, type[Engine]] = {"llguidance": LLGuidanceEngine, "xgrammar": XGrammarEngine}
_ENGINES: dict[tuple[str, str, int, tuple[int, ...]], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A digest of what a tokenizer maps tokens to: equal for equal tokenizers, whatever the object.

    Engines are cached by it, not by ``id()``: an id is reused once its object is freed, and an
    engine built for another vocabulary would mask the wrong tokens.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    added = json.dumps(sorted((str(t), i) for t, i in tokenizer.get_added_vocab().items()))
    return hashlib.sha256(f"{type(tokenizer).__name__}\n{text}\n{added}".encode()).hexdigest()


def get_engine(name: str, tokenizer: Any, vocab_size: int, eos_ids: list[int]) -> Engine:
    """The engine ``name`` for a tokenizer (cached: building its token tables takes a while)."""
    if name not in _ENGINE_CLASSES:
        raise OptionsError(f"unknown grammar engine {name!r}; known: {', '.join(ENGINES)}")
    key = (name, tokenizer_fingerprint(tokenizer), vocab_size, tuple(eos_ids))
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            try:
                _ENGINES[key] = _ENGINE_CLASSES[name](tokenizer, vocab_size, eos_ids)
            except ImportError as exc:
                raise OptionsError(
                    f"constrained decoding with {name} needs the {name} package ({exc}); "
                    "pip install 'vestis[vlm]' or --set constrained=false"
                ) from None
        return _ENGINES[key]


# ---- the logits processor ----------------------------------------------------------------------
class GrammarLogitsProcessor:
    """Masks every token the grammar forbids, per row of a batch; a transformers ``LogitsProcessor``.

    The first call sees the prompt (nothing to consume); each later call first consumes the token
    chosen at the previous step. ``skip`` leading generated tokens are outside the grammar (a
    forced BOS, as Florence-2 emits). A row whose object is complete may only stop (EOS); so may a
    row whose matcher failed (:meth:`errors` says why). ``seconds`` and ``steps`` measure the
    masking overhead.
    """

    def __init__(self, engine: Engine, schema: Schema, batch_size: int, skip: int = 0) -> None:
        import numpy as np
        import torch

        compiled = engine.compiled(schema)
        self.engine = engine
        self.matchers = [engine.matcher(compiled) for _ in range(batch_size)]
        self.skip = skip
        words = (engine.vocab_size + 31) // 32
        self._bitmask = torch.full((batch_size, words), -1, dtype=torch.int32)
        stop = np.zeros(words, dtype=np.uint32)
        for eos in engine.eos_ids:
            stop[eos // 32] |= np.uint32(1 << (eos % 32))
        self._stop_only = torch.from_numpy(stop.view(np.int32))
        self._start: int | None = None
        self.seconds = 0.0
        self.steps = 0

    def errors(self) -> list[str | None]:
        """Per row, why the grammar engine gave up, or None."""
        return [self.engine.error(m) for m in self.matchers]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._start is None:
            self._start = input_ids.shape[1]
        step = input_ids.shape[1] - self._start
        if step > self.skip:
            for row in range(len(self.matchers)):
                self.advance(row, int(input_ids[row, -1]))
        if step >= self.skip:
            self.mask(scores)
        self.steps += 1
        return scores

    def advance(self, row: int, token: int, fast_forward: bool = False) -> list[int]:
        """Consume ``token`` in row ``row``; with ``fast_forward``, also the tokens the grammar then
        forces, which are returned (they need no decoding step)."""
        t0 = time.perf_counter()
        matcher = self.matchers[row]
        forced: list[int] = []
        if not self.engine.done(matcher):
            self.engine.advance(matcher, token)
            if fast_forward:
                forced = self.engine.forced_tokens(matcher)
                for t in forced:
                    self.engine.advance(matcher, t)
        self.seconds += time.perf_counter() - t0
        return forced

    def mask(self, scores: Any, rows: list[int] | None = None) -> Any:
        """Set to -inf, per row, what the grammar forbids next (a finished row may only stop).

        ``rows``: the batch rows that ``scores``' rows are, in order (default: all of them)."""
        bitmask = self.bitmask(rows)
        t0 = time.perf_counter()
        apply_bitmask(scores, bitmask)
        self.seconds += time.perf_counter() - t0
        return scores

    def bitmask(self, rows: list[int] | None = None) -> Any:
        """What the grammar allows next, per row of ``rows`` (default: all): an int32 tensor
        (len(rows), words), bit ``j`` of word ``i`` for token ``32 i + j``; a finished row may only
        stop. A view of a buffer the next call overwrites."""
        t0 = time.perf_counter()
        rows = list(range(len(self.matchers))) if rows is None else rows
        for at, row in enumerate(rows):
            matcher = self.matchers[row]
            if self.engine.done(matcher):
                self._bitmask[at] = self._stop_only
            else:
                self.engine.fill(matcher, self._bitmask, at)
        self.seconds += time.perf_counter() - t0
        return self._bitmask[: len(rows)]


def allowed_tokens(bitmask: Any, limit: int) -> Any:
    """The tokens below ``limit`` that any row of ``bitmask`` allows, ascending (int64 tensor).

    >>> import torch
    >>> bits = torch.tensor([[0b101, 0], [0, 1]], dtype=torch.int32)
    >>> allowed_tokens(bits, 64).tolist(), allowed_tokens(bits, 32).tolist()
    ([0, 2, 32], [0, 2])
    """
    import numpy as np
    import torch

    words = np.bitwise_or.reduce(bitmask.numpy().view(np.uint32), axis=0)
    bits = np.unpackbits(words.astype("<u4").view(np.uint8), bitorder="little")[:limit]
    return torch.from_numpy(np.flatnonzero(bits))


def allowed_at(bitmask: Any, tokens: Any) -> Any:
    """Per row of ``bitmask``, whether it allows each of ``tokens``: bool (rows, len(tokens)).

    >>> import torch
    >>> allowed_at(torch.tensor([[0b101], [0b010]], dtype=torch.int32), torch.tensor([0, 1, 2])).tolist()
    [[True, False, True], [False, True, False]]
    """
    shifts = (tokens % 32).to(bitmask.dtype)
    return ((bitmask[:, tokens // 32] >> shifts) & 1).bool()


def apply_bitmask(scores: Any, bitmask: Any) -> None:
    """Set to -inf the logits whose bit is 0 (bit ``j`` of word ``i`` is token ``32 i + j``)."""
    import torch

    vocab = scores.shape[-1]
    shifts = torch.arange(32, dtype=torch.int32)
    allowed = ((bitmask.unsqueeze(-1) >> shifts) & 1).view(bitmask.shape[0], -1)[:, :vocab].bool()
    if allowed.shape[1] < vocab:  # logits wider than the grammar's vocabulary: padding rows
        allowed = torch.nn.functional.pad(allowed, (0, vocab - allowed.shape[1]), value=False)
    scores.masked_fill_(~allowed.to(scores.device), float("-inf"))


class ChosenTokenLogprobs:
    """Records the log-probability of each generated token under the final (processed) scores.

    Keeps one step of scores: the token chosen from them is only known at the next call (or from
    the returned sequences, :meth:`finish`). Must be the last logits processor.
    """

    def __init__(self) -> None:
        self._prev: Any = None
        self.logprobs: list[Any] = []  # one (batch,) tensor per step

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._prev is not None:
            self._take(input_ids[:, -1])
        self._prev = scores.detach().float().clone()
        return scores

    def _take(self, tokens: Any) -> None:
        import torch

        lp = torch.log_softmax(self._prev, dim=-1).gather(1, tokens.view(-1, 1).to(self._prev.device))
        self.logprobs.append(lp.squeeze(1).cpu())
        self._prev = None

    def finish(self, last_tokens: Any) -> Any:
        """(batch, steps) log-probabilities, given the tokens of the last step."""
        import torch

        if self._prev is not None:
            self._take(last_tokens)
        return torch.stack(self.logprobs, dim=1) if self.logprobs else torch.zeros((len(last_tokens), 0))
