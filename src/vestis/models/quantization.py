"""Quantized models: bitsandbytes 4-bit (NF4, as QLoRA) or 8-bit (LLM.int8) on CUDA, and dynamic
int8 on CPU.

bitsandbytes quantizes on CUDA only. Every backend and recipe that offers ``quantization`` checks
and builds it here, so the option means the same thing everywhere and fails the same clear way
on a machine without a GPU or without the package. ``int8`` (:func:`dynamic_int8`) is torch's own
CPU path: the weights of linear layers stored as int8 per output channel, activations quantized
per batch as they come, the matrix products run in int8 (VNNI where the CPU has it).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from vestis.errors import OptionsError
from vestis.models.registry import ModelNotFound

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


def dynamic_int8(model: Any, within: list[Any]) -> Any:
    """``model`` with the ``nn.Linear`` layers found in ``within`` (submodules of it, or layers
    themselves) replaced by their dynamically quantized int8 form, in place (inference, CPU). The
    quantized layers no longer expose ``.weight`` as a tensor: read what you need of them first."""
    import warnings

    import torch

    # one scale per output channel: torch's default, one per tensor, lost vestis-vlm-tiny more
    # accuracy still (docs/benchmarks.md, "Quantized inference on CPU")
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    inside = {id(m) for part in within if part is not None for m in part.modules()}
    spec = {
        n: qconfig for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) in inside
    }
    with warnings.catch_warnings():  # torch points eager quantization to torchao; this path still works
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
