"""vestis-lite's text encoder: the packaged MiniLM-L6, or a fine-tuned copy inside a model directory.

A model directory trained with ``vestis train contrastive`` carries its own MiniLM in
``text_encoder/``: a sentence-transformers directory (the packaged model's config, tokenizer and
pooling files, and ``model.safetensors`` with the fine-tuned weights in fp16, named as in the
package). Everything that encodes text for a vestis-lite model asks :func:`text_encoder_dir`, so
a directory without one keeps using the packaged MiniLM. No torch at import.

>>> text_encoder_dir("vestis-lite") is None
True
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TEXT_ENCODER_DIR = "text_encoder"
WEIGHTS = "model.safetensors"
#: the packaged MiniLM's files a ``text_encoder/`` copies (all but the weights, the card and data notes)
COPIED = (
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling",
)


def text_encoder_dir(model: Any = None) -> Path | None:
    """The fine-tuned text encoder of a vestis-lite model directory (a name, a path), or None."""
    from vestis.models.registry import resolve_lite

    directory = resolve_lite(model) / TEXT_ENCODER_DIR
    return directory if (directory / WEIGHTS).is_file() else None


def text_encoder_state(directory: Path | None = None) -> dict[str, torch.Tensor]:
    """The floating tensors of a text encoder's weights (None: the packaged MiniLM), by package name."""
    from safetensors.torch import load_file

    from vestis.models.pretrained import minilm_path

    state = load_file(str((directory or minilm_path()) / WEIGHTS))
    return {k: v for k, v in state.items() if v.is_floating_point()}


def save_text_encoder(
    state: dict[str, torch.Tensor], directory: Path, source: Path | None = None, half: bool = True
) -> Path:
    """Write ``state`` (a BERT state dict, as ``auto_model.state_dict()`` names it) as a
    sentence-transformers directory, with the non-weight files of ``source`` (None: the packaged
    MiniLM); fp16 unless ``half`` is false. Returns ``directory``."""
    import torch
    from safetensors.torch import save_file

    from vestis.models.pretrained import minilm_path

    source = source or minilm_path()
    directory.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, directory / name, dirs_exist_ok=True)
        elif path.is_file():
            shutil.copy2(path, directory / name)
    dtype = torch.float16 if half else torch.float32
    tensors = {
        k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in state.items()
    }
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pt", "model": "vestis-lite-text"})
    return directory


def add_checksum(model_dir: Path) -> None:
    """Record ``text_encoder/model.safetensors`` in the model directory's ``checksums.json``."""
    from vestis.models.lite_config import update_checksums

    update_checksums(model_dir, [f"{TEXT_ENCODER_DIR}/{WEIGHTS}"])


__all__ = ["TEXT_ENCODER_DIR", "add_checksum", "save_text_encoder", "text_encoder_dir", "text_encoder_state"]
