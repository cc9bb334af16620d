"""The checkpoint kinds WiseFT blends, each read and written in its own format.

A kind is a :class:`Checkpoint` subclass listed in :data:`KINDS`; :func:`open_checkpoint` asks each
whether it detects a directory from its ``config.json``:

* **vestis-lite** (:class:`LiteCheckpoint`): ``config.json`` + ``model.safetensors`` (the trained
  tensors only) + ``checksums.json`` + a model card, and a fine-tuned MiniLM in ``text_encoder/``
  where ``vestis train contrastive`` wrote one; a training run's ``out_dir`` also works;
* **transformers** (:class:`TransformersCheckpoint`): a ``config.json`` with a ``model_type`` and
  safetensors weights that transformers loads (CLIP, SigLIP, ...); written with
  ``save_pretrained``, with the tokenizer and processor files copied from the fine-tuned model.

>>> open_checkpoint("vestis-lite").kind
'vestis-lite'
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vestis.models.registry import ModelError, ModelNotFound

if TYPE_CHECKING:
    import torch

PROVENANCE = "wiseft.json"  # written into every blend: what it was made from (and a mark that it is one)


class Checkpoint(ABC):
    """A model directory of one kind. A subclass sets ``kind`` and implements :meth:`detects`,
    :meth:`identity`, :meth:`check_pairs_with`, :meth:`state` and :meth:`write_blend`; it may
    assume ``self.directory`` holds a ``config.json`` it detected."""

    kind: ClassVar[str] = ""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config: dict[str, Any] = json.loads((directory / "config.json").read_text())

    @classmethod
    @abstractmethod
    def detects(cls, config: dict[str, Any], directory: Path) -> bool:
        """Whether a directory with this ``config.json`` is a checkpoint of this kind."""

    @abstractmethod
    def identity(self) -> str:
        """A short id of the weights (for the model card and the report)."""

    @abstractmethod
    def check_pairs_with(self, other: Checkpoint) -> None:
        """Raise :class:`ModelError` naming the first architecture setting that differs."""

    @abstractmethod
    def state(self) -> dict[str, torch.Tensor]:
        """The tensors a blend interpolates, by name."""

    def pair_with(self, other: Checkpoint) -> None:  # noqa: B027 (optional hook, empty by default)
        """Called by :func:`open_pair` on each end once the two pair: a kind may settle here what
        :meth:`state` holds (by default it depends on the checkpoint alone)."""

    @abstractmethod
    def write_blend(
        self, base: Checkpoint, state: dict[str, torch.Tensor], alpha: float, directory: Path, card: str
    ) -> None:
        """Write ``state`` as a checkpoint of this kind into the empty ``directory`` (``self`` is
        the fine-tuned end, ``base`` the other), with ``card`` as its ``README.md``."""


class LiteCheckpoint(Checkpoint):
    """A vestis-lite model directory. Architecture settings must match; calibration, gates and
    thresholds (measured on one model, not on the blend) and the composer come from the nearer end
    (the fine-tuned model from α = 0.5 on).

    The text encoder is blended too when either end has its own (``text_encoder/``): an end
    without one contributes the packaged MiniLM; the blend's ``text_encoder/`` is fp16."""

    kind = "vestis-lite"
    ARCHITECTURE = (
        "image_size",
        "split",
        "embed_dim",
        "heads",
        "multi",
        "colour_dim",
        "colour_heads",
        "schema",
    )

    def __init__(self, directory: Path) -> None:
        from vestis.models.text_tower import text_encoder_dir

        super().__init__(directory)
        self.text_encoder = text_encoder_dir(directory)
        self.blend_text = self.text_encoder is not None

    @classmethod
    def detects(cls, config: dict[str, Any], directory: Path) -> bool:
        return "heads" in config and "embed_dim" in config and (directory / "model.safetensors").is_file()

    def identity(self) -> str:
        from vestis.models.registry import lite_model_id

        return lite_model_id(self.directory)

    def check_pairs_with(self, other: Checkpoint) -> None:
        from dataclasses import asdict

        from vestis.models.lite_config import LiteModelConfig

        mine, theirs = (asdict(LiteModelConfig.from_dict(c.config)) for c in (self, other))
        heads, other_heads = mine["heads"], theirs["heads"]
        if only := sorted(set(heads) ^ set(other_heads)):
            where = "the fine-tuned model" if only[0] in heads else "the base model"
            raise ModelError(f"head {only[0]!r} is only in {where}: the two models have different heads")
        for name in heads:
            if heads[name] != other_heads[name]:
                raise ModelError(
                    f"head {name!r} has another vocabulary (or value order) in the two models: "
                    "its logits would be blended across different values"
                )
        for key in self.ARCHITECTURE:
            if mine[key] != theirs[key]:
                raise ModelError(
                    f"config {key!r} differs: {theirs[key]!r} (base) vs {mine[key]!r} (fine-tuned)"
                )

    def pair_with(self, other: Checkpoint) -> None:
        self.blend_text = self.text_encoder is not None or getattr(other, "text_encoder", None) is not None

    def state(self) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        from vestis.models.lite_config import verify_checksums
        from vestis.models.text_tower import TEXT_ENCODER_DIR, WEIGHTS, text_encoder_state

        verify_checksums(self.directory, names=("config.json", WEIGHTS, f"{TEXT_ENCODER_DIR}/{WEIGHTS}"))
        state = load_file(str(self.directory / "model.safetensors"))
        if self.blend_text:
            text = text_encoder_state(self.text_encoder)
            state.update({f"{TEXT_ENCODER_DIR}/{name}": tensor for name, tensor in text.items()})
        return state

    def write_blend(
        self, base: Checkpoint, state: dict[str, torch.Tensor], alpha: float, directory: Path, card: str
    ) -> None:
        from safetensors.torch import save_file

        from vestis.models.text_tower import TEXT_ENCODER_DIR, save_text_encoder

        nearer = self if alpha >= 0.5 else base
        prefix = f"{TEXT_ENCODER_DIR}/"
        text = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        if text:
            source = self.text_encoder or getattr(base, "text_encoder", None)
            save_text_encoder(text, directory / TEXT_ENCODER_DIR, source)
        (directory / "config.json").write_text(json.dumps(nearer.config, indent=1))
        metadata = {
            "format": "pt",
            "model": "vestis-lite",
            "wiseft": json.dumps(provenance(base, self, alpha)),
        }
        save_file(state, str(directory / "model.safetensors"), metadata=metadata)  # new bytes: a new model id
        if (nearer.directory / "composer").is_dir():
            shutil.copytree(nearer.directory / "composer", directory / "composer")
        (directory / "README.md").write_text(card)


class TransformersCheckpoint(Checkpoint):
    """A transformers checkpoint (``config.json`` with a ``model_type``, safetensors weights). The
    configs may differ only in metadata (versions, paths, dtype); the blend is written with
    ``save_pretrained`` in the fine-tuned model's class, and its tokenizer and processor files
    are copied beside it."""

    kind = "transformers"
    METADATA = frozenset(
        {
            "transformers_version",
            "_name_or_path",
            "torch_dtype",
            "dtype",
            "_commit_hash",
            "_attn_implementation",
        }
    )
    COPIED = (
        "tokenizer*",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.*",
        "merges.txt",
        "*.model",
        "preprocessor_config.json",
        "processor_config.json",
        "image_processor*.json",
        "chat_template*",
    )

    @classmethod
    def detects(cls, config: dict[str, Any], directory: Path) -> bool:
        return "model_type" in config and any(directory.glob("*.safetensors"))

    def identity(self) -> str:
        from vestis.embed.backends.hf_clip import fingerprint

        return f"{self.config.get('model_type')}:{self.directory.name}@{fingerprint(self.directory)}"

    def check_pairs_with(self, other: Checkpoint) -> None:
        difference = _first_difference(
            _strip(other.config, self.METADATA), _strip(self.config, self.METADATA)
        )
        if difference:
            path, theirs, mine = difference
            raise ModelError(f"config {path!r} differs: {theirs!r} (base) vs {mine!r} (fine-tuned)")

    def model(self) -> Any:
        """A fresh load of the model, in the class ``architectures`` names (else ``AutoModel``'s)."""
        import transformers

        transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars, once per α
        names = self.config.get("architectures") or []
        cls = getattr(transformers, names[0], None) if names else None
        return (cls or transformers.AutoModel).from_pretrained(str(self.directory)).eval()

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.model().state_dict().items()}

    def write_blend(
        self, base: Checkpoint, state: dict[str, torch.Tensor], alpha: float, directory: Path, card: str
    ) -> None:
        model = self.model()  # a fresh instance as the vessel: state dicts handed out stay untouched
        model.load_state_dict(state, strict=True)
        model.save_pretrained(str(directory))
        for path in sorted(self.directory.iterdir()):
            if path.is_file() and any(fnmatch(path.name, pattern) for pattern in self.COPIED):
                shutil.copy2(path, directory / path.name)
        (directory / "README.md").write_text(card)


KINDS: tuple[type[Checkpoint], ...] = (LiteCheckpoint, TransformersCheckpoint)


def open_checkpoint(path: str | Path, role: str = "checkpoint") -> Checkpoint:
    """The checkpoint in a directory (or a training run's ``out_dir``/``model``), of the kind it is.

    ``path`` may be ``"vestis-lite"`` for the shipped model. ``role`` names it in errors.
    """
    from vestis.models.registry import SHIPPED

    directory = SHIPPED[str(path)] if str(path) in SHIPPED else Path(path)
    if not (directory / "config.json").is_file() and (directory / "model" / "config.json").is_file():
        directory = directory / "model"
    if not (directory / "config.json").is_file():
        what = "does not exist" if not directory.exists() else "has no config.json"
        raise ModelNotFound(f"{role} {path}: {what}; pass a vestis-lite or transformers model directory")
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{role} {directory}/config.json cannot be read: {exc}") from None
    for cls in KINDS:
        if isinstance(config, dict) and cls.detects(config, directory):
            return cls(directory)
    raise ModelError(
        f"{role} {directory} is neither a vestis-lite model (config.json with heads, model.safetensors) "
        "nor a transformers checkpoint (config.json with model_type, *.safetensors)"
    )


def open_pair(base: str | Path | Checkpoint, tuned: str | Path | Checkpoint) -> tuple[Checkpoint, Checkpoint]:
    """Both checkpoints (opened unless given open), checked to be of one kind and one architecture."""
    a = base if isinstance(base, Checkpoint) else open_checkpoint(base, "base model")
    b = tuned if isinstance(tuned, Checkpoint) else open_checkpoint(tuned, "fine-tuned model")
    if a.kind != b.kind:
        raise ModelError(
            f"the base model is a {a.kind} checkpoint and the fine-tuned one a {b.kind} checkpoint"
        )
    b.check_pairs_with(a)
    a.pair_with(b)
    b.pair_with(a)
    return a, b


def provenance(base: Checkpoint, tuned: Checkpoint, alpha: float) -> dict[str, Any]:
    """What a blend is made of (``wiseft.json``, and the safetensors metadata of a vestis-lite blend)."""
    return {
        "method": "wiseft",
        "kind": tuned.kind,
        "alpha": alpha,
        "base": {"path": str(base.directory), "id": base.identity()},
        "tuned": {"path": str(tuned.directory), "id": tuned.identity()},
    }


def _strip(tree: Any, keys: frozenset[str]) -> Any:
    if isinstance(tree, dict):
        return {k: _strip(v, keys) for k, v in tree.items() if k not in keys}
    return tree


def _first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """(dotted path, value in a, value in b) of the first difference of two JSON trees, else None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return sub, a.get(key, "(absent)"), b.get(key, "(absent)")
            if found := _first_difference(a[key], b[key], sub):
                return found
        return None
    return None if a == b else (path or "(root)", a, b)


__all__ = [
    "KINDS",
    "PROVENANCE",
    "Checkpoint",
    "LiteCheckpoint",
    "TransformersCheckpoint",
    "open_checkpoint",
    "open_pair",
    "provenance",
]
