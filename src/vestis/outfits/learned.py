"""What the learned outfit scorers share: config, packing outfits into tensors, a model directory.

A learned scorer wraps a torch module ``net(emb [B, L, D], cat [B, L], mask [B, L]) -> logits [B]``
(``cat`` holds 1 + the index of the item's category in ``config.categories``, 0 for unknown;
the categories are values of the training schema's ``category`` role, recorded in the config;
``mask`` is True for real items, False for padding). Its model directory holds ``config.json``
(the config, with ``scorer`` naming the backend, and the calibration and structure) and
``model.safetensors``. torch is imported
only when a learned scorer is created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vestis.models.registry import ModelError
from vestis.outfits.base import ItemFeatures, OutfitScorer


@dataclass
class LearnedConfig:
    """Fields every learned scorer has; backends subclass it with their architecture's fields."""

    embed_dim: int = 256
    categories: list[str] = field(default_factory=list)  # category values the net indexes (1 + position)
    embedding_model: str | None = None  # vestis-lite id of the training embeddings
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearnedConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def centring(cfg: LearnedConfig):
    """A module ``(emb, cat) -> emb - mean embedding of the item's category`` (means set by training).

    What an item's embedding says beyond its kind (colour, material, style) is what decides
    compatibility; removing the category mean makes that the input (see ``cooccurrence``).
    """
    import torch
    from torch import nn

    class Centring(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("means", torch.zeros(len(cfg.categories) + 1, cfg.embed_dim))

        def forward(self, emb, cat):
            return emb - self.means[cat]

    return Centring()


class LearnedScorer(OutfitScorer):
    """A scorer backed by a torch module; subclasses set ``config_class`` and implement ``build_net``.

    The net has a ``centring`` submodule (:func:`centring`), fitted by the trainer.
    """

    learned = True
    config_class: ClassVar[type[LearnedConfig]] = LearnedConfig

    def __init__(self, config: LearnedConfig | None = None, **options: Any) -> None:
        import torch

        self.config = config or self.config_class(**options)
        self.embedding_model = self.config.embedding_model
        self._cat_index = {c: i + 1 for i, c in enumerate(self.config.categories)}
        self.net = self.build_net()
        self.net.eval()
        self._torch = torch

    def build_net(self):
        raise NotImplementedError

    def fit_centring(self, embeddings: np.ndarray, categories: Sequence[str | None]) -> None:
        """Set the net's per-category mean embeddings (its ``centring`` buffer) from training items."""
        torch = self._torch
        means = torch.zeros_like(self.net.centring.means)
        emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        means[0] = emb.mean(0)  # unknown categories: the overall mean
        cats = np.array([self._cat_index.get(c, 0) for c in categories])
        for c in np.unique(cats):
            if c and (cats == c).sum() >= 2:
                means[c] = emb[torch.from_numpy(cats == c)].mean(0)
        self.net.centring.means.copy_(means)

    # ---- tensors ---------------------------------------------------------------------------------
    def pack(self, outfits: Sequence[Sequence[ItemFeatures]]):
        """(emb [B, L, D] float32, cat [B, L] int64, mask [B, L] bool) tensors, padded to the longest."""
        torch = self._torch
        length = max((len(o) for o in outfits), default=1) or 1
        emb = np.zeros((len(outfits), length, self.config.embed_dim), dtype=np.float32)
        cat = np.zeros((len(outfits), length), dtype=np.int64)
        mask = np.zeros((len(outfits), length), dtype=bool)
        for b, outfit in enumerate(outfits):
            for j, it in enumerate(outfit):
                emb[b, j] = it.embedding
                cat[b, j] = self._cat_index.get(it.category, 0)
                mask[b, j] = True
        return torch.from_numpy(emb), torch.from_numpy(cat), torch.from_numpy(mask)

    def score(self, outfits: Sequence[Sequence[ItemFeatures]], batch: int = 512) -> np.ndarray:
        out = np.zeros(len(outfits))
        self.net.eval()
        with self._torch.inference_mode():
            for start in range(0, len(outfits), batch):
                chunk = outfits[start : start + batch]
                out[start : start + len(chunk)] = self.net(*self.pack(chunk)).double().numpy()
        return out

    # ---- model directory -------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` (config, calibration, structure + ``extra``, such as metrics) and
        ``model.safetensors``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = {"scorer": self.name, **asdict(self.config), **self.fitted(), **(extra or {})}
        (directory / "config.json").write_text(json.dumps(data, indent=1))
        state = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> LearnedScorer:
        from safetensors.torch import load_file

        directory = Path(directory)
        data = json.loads((directory / "config.json").read_text())
        if data.get("scorer") != cls.name:
            raise ModelError(f"{directory} holds a {data.get('scorer')!r} model, not {cls.name!r}")
        scorer = cls(cls.config_class.from_dict(data))
        scorer.net.load_state_dict(load_file(str(directory / "model.safetensors")))
        scorer.net.eval()
        scorer.read_fitted(data)
        return scorer
