"""``set-transformer``: a small transformer encoder reads the whole outfit at once.

In the style of OutfitTransformer (Sarkar et al., 2023): each item is a token (its embedding,
projected, plus a learned embedding of its coarse category); a learned CLS token attends to
all items through a few encoder layers (no positional encoding: an outfit is a set), and a
linear head on the CLS output gives the compatibility logit. Unlike a pairwise scorer it can
judge the outfit as a whole (three loud prints together; a look missing its shoes).
:meth:`pair_scores` scores each pair as a two-item outfit, which training sees through its
random sub-outfits.
"""

from __future__ import annotations

from dataclasses import dataclass

from vestis.outfits.base import SCORERS
from vestis.outfits.learned import LearnedConfig, LearnedScorer


@dataclass
class SetTransformerConfig(LearnedConfig):
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    ff: int = 256


def _net(cfg: SetTransformerConfig):
    import torch
    from torch import nn

    class SetTransformerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item = nn.Linear(cfg.embed_dim, cfg.d_model)
            self.category = nn.Embedding(len(cfg.categories) + 1, cfg.d_model)
            self.cls = nn.Parameter(0.02 * torch.randn(1, 1, cfg.d_model))
            layer = nn.TransformerEncoderLayer(
                cfg.d_model, cfg.heads, cfg.ff, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, 1)

        def forward(self, emb, cat, mask):
            tokens = self.item(emb) + self.category(cat)
            x = torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], dim=1)
            pad = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)
            x = self.encoder(x, src_key_padding_mask=pad)
            return self.head(self.norm(x[:, 0])).squeeze(-1)

    return SetTransformerNet()


@SCORERS.register("set-transformer")
class SetTransformerScorer(LearnedScorer):
    name = "set-transformer"
    config_class = SetTransformerConfig

    def build_net(self):
        return _net(self.config)
