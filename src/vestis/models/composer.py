"""Composed retrieval: reference image embedding + modification text embedding → target embedding.

A gated residual combiner (in the spirit of CLIP4Cir's): the output keeps a learned share of
the reference image and adds what the text changes, then is re-normalised into the shared
space, so the composed query searches the same index as images and text. Queries run it
without torch (:mod:`vestis.models.composer_runtime`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vestis.models.composer_runtime import composer_beats_sum


@dataclass
class ComposerConfig:
    dim: int = 256
    hidden: int = 512
    dropout: float = 0.1


class Composer(nn.Module):
    def __init__(self, config: ComposerConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.dim, config.hidden
        self.gate = nn.Sequential(nn.Linear(2 * d, h), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(h, d))
        self.residual = nn.Sequential(
            nn.Linear(2 * d, h), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(h, d)
        )
        self.logit_scale = nn.Parameter(torch.tensor(2.659))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image, text], dim=-1)
        g = torch.sigmoid(self.gate(x))
        return F.normalize(g * image + (1 - g) * text + self.residual(x), dim=-1)

    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "composer.json").write_text(json.dumps(asdict(self.config), indent=1))
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "composer.safetensors")
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Composer:
        from safetensors.torch import load_file

        directory = Path(directory)
        model = cls(ComposerConfig(**json.loads((directory / "composer.json").read_text())))
        model.load_state_dict(load_file(str(directory / "composer.safetensors")))
        return model.eval()


__all__ = ["Composer", "ComposerConfig", "composer_beats_sum"]
