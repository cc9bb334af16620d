"""Quantized models: bitsandbytes 4-bit (NF4, as QLoRA) or 8-bit (LLM.int8) on CUDA, and dynamic
int8 on CPU.

bitsandbytes quantizes on CUDA only. Every backend and recipe that offers ``quantization`` checks
and builds it here, so the option means the same thing everywhere and fails the same clear way
on a machine without a GPU or without the package. ``int8`` (:func:`dynamic_int8`) is the CPU path:
the weights of linear layers stored as int8 with one scale per output channel, each token's
activations quantized with a scale of its own as they come, the matrix products run in int8
(``torch._int_mm``: VNNI where the CPU has it), about twice float32's speed on these layers.
Without int8 dot-product instructions (AVX2 only, e.g. AMD EPYC Zen 3) those products are several
times *slower* than float32: :func:`int8_speedup` measures it once per process, and
:func:`dynamic_int8` warns when int8 does not pay on the machine it runs on.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import time
from typing import Any

from vestis.errors import OptionsError
from vestis.models.registry import ModelNotFound

log = logging.getLogger(__name__)

QUANTIZATIONS = ("4bit", "8bit")
CPU_QUANTIZATIONS = ("int8",)


def check_quantization(quantization: str | None, allowed: tuple[str, ...] = QUANTIZATIONS) -> str | None:
    """``quantization`` when it is one of ``allowed`` or None, else an OptionsError.

    >>> check_quantization("4bit"), check_quantization(None)
    ('4bit', None)
    """
    if quantization not in (None, *allowed):
        raise OptionsError(
            f"quantization must be one of {', '.join(allowed)} (or unset), not {quantization!r}"
        )
    return quantization


def bitsandbytes_config(quantization: str) -> Any:
    """The ``quantization_config`` to load a model with: "4bit" is NF4 with double quantization and
    bfloat16 compute (QLoRA's), "8bit" is LLM.int8. Raises a one-line error without a CUDA GPU or
    without bitsandbytes, rather than a slow or failing load."""
    import torch

    check_quantization(quantization)
    if not torch.cuda.is_available():
        raise OptionsError(
            f"quantization={quantization} loads through bitsandbytes, which needs a CUDA GPU; "
            "on CPU leave it unset"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelNotFound(f"quantization={quantization} needs bitsandbytes: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def dynamic_int8(model: Any, within: list[Any], keep_float: list[str] | tuple[str, ...] = ()) -> Any:
    """``model`` with the ``nn.Linear`` layers found in ``within`` (submodules of it, or layers
    themselves) replaced by :class:`Int8Linear` forms of them, in place (inference, CPU), but for
    those whose attribute name is in ``keep_float`` (``down_proj``: the MLPs' output layers). The
    quantized layers no longer expose ``.weight``: read what you need of them first.

    One scale per token, not per batch: torch's dynamic quantization scales a batch's activations
    together, so one token with large activations coarsens every other token's, and it cost
    vestis-vlm-tiny most of its accuracy (docs/benchmarks.md, "Quantized inference on CPU")."""
    import torch

    inside = {id(m) for part in within if part is not None for m in part.modules()}
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and id(m) in inside and name.rpartition(".")[2] not in keep_float
    ]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, int8_linear_class().from_linear(linear))
    group_int8_siblings(model)
    speedup = int8_speedup() if targets else 1.0  # measured only when something was quantized
    if speedup < 1:
        log.warning(
            "quantization=int8: int8 matrix products run %.1fx slower than float32 on this CPU (%s; no "
            "int8 dot-product instructions such as VNNI), so int8 will be slower than float here",
            1 / speedup,
            _cpu_capability(),
        )
    return model


@functools.cache
def int8_speedup(rows: int = 64, inner: int = 576, outer: int = 1536, repeats: int = 5) -> float:
    """float32 time / int8 time of one ``rows × inner`` by ``inner × outer`` product on this CPU, at
    torch's current thread count (best of ``repeats``; measured once per process, about 0.1 s).
    Above 1: int8 pays (VNNI); below: ``torch._int_mm`` has no fast kernel here."""
    import torch

    a, w = torch.randn(rows, inner), torch.randn(outer, inner)
    aq = torch.randint(-127, 128, (rows, inner), dtype=torch.int8)
    wq = torch.randint(-127, 128, (outer, inner), dtype=torch.int8)

    def best(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with torch.inference_mode():
        return best(lambda: a @ w.t()) / max(best(lambda: torch._int_mm(aq, wq.t())), 1e-9)


def _cpu_capability() -> str:
    import torch

    return f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


# layers that a module applies to the same input, one after another (Llama-style attention and MLP)
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def group_int8_siblings(model: Any, siblings: tuple[tuple[str, ...], ...] = SIBLINGS) -> int:
    """Join each set of :class:`Int8Linear` siblings that read one input (a module's ``q_proj``,
    ``k_proj`` and ``v_proj``) into one product: the input is quantized once and multiplied by
    their weights side by side; the first call computes every sibling's output, the others take
    theirs. The outputs are exactly the separate layers' (the same int8 input and weights, exact
    int32 sums). Returns the number of groups.

    The siblings must be called on the same tensor, not modified in between, as transformers'
    attention and MLP modules do; a sibling called on another tensor recomputes the group."""
    Int8Linear = int8_linear_class()
    groups = 0
    for module in model.modules():
        for names in siblings:
            layers = [getattr(module, n, None) for n in names]
            if all(isinstance(x, Int8Linear) and x.group is None for x in layers) and (
                len({x.in_features for x in layers}) == 1
            ):
                Int8Linear.group_together(layers)
                groups += 1
    return groups


@functools.cache
def int8_linear_class() -> type:
    """``Int8Linear``, the module :func:`dynamic_int8` puts in place of ``nn.Linear`` (built on first
    use: importing this module does not import torch).

    >>> import torch
    >>> linear = torch.nn.Linear(64, 32)
    >>> x = torch.randn(5, 64)
    >>> q = int8_linear_class().from_linear(linear)
    >>> bool(((q(x) - linear(x)).abs().max() < 0.05 * linear(x).abs().max()).item())
    True
    """
    import torch

    def quantize_rows(t: Any) -> tuple[Any, Any]:
        """Each row of a 2-D float tensor as int8, symmetric, with its own scale: (int8, scales (n, 1))."""
        scale = t.abs().amax(dim=1, keepdim=True).div_(127).clamp_(min=1e-12)
        # |t| / scale <= 127 (up to rounding, which round() keeps at 127): no clamp needed
        return (t / scale).round_().to(torch.int8), scale

    def int8_product(x: Any, qweight: Any, scale: Any, bias: Any) -> Any:
        """``x`` (…, in) float times the int8 ``qweight`` (out, in) with per-row ``scale``: (…, out)."""
        shape = x.shape
        xq, x_scale = quantize_rows(x.reshape(-1, qweight.shape[1]).float())
        # _int_mm reads the (out, in) rows through a transposed view faster than an (in, out) copy
        out = torch._int_mm(xq, qweight.t()).float().mul_(x_scale).mul_(scale)
        if bias is not None:
            out.add_(bias)
        return out.reshape(*shape[:-1], qweight.shape[0]).to(x.dtype)

    class Group:
        """Int8 layers run as one product on the input they share (:func:`group_int8_siblings`)."""

        def __init__(self, layers: list[Any]) -> None:
            self.layers = layers
            self.qweight = torch.cat([x.qweight for x in layers])
            self.scale = torch.cat([x.scale for x in layers])
            biases = [x.bias if x.bias is not None else x.scale.new_zeros(x.out_features) for x in layers]
            self.bias = torch.cat(biases) if any(x.bias is not None for x in layers) else None
            # per thread: the input of the last product and the outputs not yet taken
            self._state = threading.local()

        def output(self, layer: Any, x: Any) -> Any:
            state = self._state
            pending = getattr(state, "pending", None)
            if getattr(state, "input", None) is not x or not pending or id(layer) not in pending:
                out = int8_product(x, self.qweight, self.scale, self.bias)
                parts = out.split([m.out_features for m in self.layers], dim=-1)
                pending = {id(m): p for m, p in zip(self.layers, parts, strict=True)}
                state.input, state.pending = x, pending
            out = pending.pop(id(layer))
            if not pending:
                state.input = None  # no reference to the input kept past the last sibling
            return out

    class Int8Linear(torch.nn.Module):
        """``nn.Linear`` in int8: weights quantized symmetrically per output channel once, inputs
        per token at each call, products accumulated in int32 and rescaled to float.
        """

        def __init__(self, qweight: Any, scale: Any, bias: Any) -> None:
            super().__init__()
            self.out_features, self.in_features = qweight.shape
            self.register_buffer("qweight", qweight)  # (out, in) int8, as nn.Linear's weight
            self.register_buffer("scale", scale)  # (out,) float
            self.bias = None if bias is None else torch.nn.Parameter(bias, requires_grad=False)
            self.group: Any = None  # a plain object, not a submodule

        @staticmethod
        def group_together(layers: list[Any]) -> None:
            """Let ``layers`` (same input size) share one product; their weights become views of it."""
            group = Group(layers)
            at = 0
            for layer in layers:
                layer.qweight = group.qweight[at : at + layer.out_features]
                at += layer.out_features
                layer.group = group

        @classmethod
        def from_linear(cls, linear: Any) -> Any:
            q, scale = quantize_rows(linear.weight.detach().float())
            bias = None if linear.bias is None else linear.bias.detach().float().clone()
            return cls(q, scale[:, 0], bias)

        def forward(self, x: Any) -> Any:
            if self.group is not None:
                return self.group.output(self, x)
            return int8_product(x, self.qweight, self.scale, self.bias)

        def columns(self, x: Any, index: Any) -> Any:
            """The outputs ``index`` only (``self(x)[..., index]``, computed for those alone)."""
            bias = None if self.bias is None else self.bias[index]
            return int8_product(x, self.qweight.index_select(0, index), self.scale[index], bias)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, int8"

    return Int8Linear
