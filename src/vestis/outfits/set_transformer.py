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
from vestis.outfits.learned import LearnedConfig, LearnedScorer, centring


@dataclass
class SetTransformerConfig(LearnedConfig):
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    ff: int = 128
    dropout: float = 0.3  # a few thousand outfits: small and regularised
    prior: bool = True  # add the scaled centred-cosine baseline to the CLS logit (a residual on it)


def _net(cfg: SetTransformerConfig):
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    class SetTransformerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.centring = centring(cfg)
            self.item = nn.Sequential(nn.LayerNorm(cfg.embed_dim), nn.Linear(cfg.embed_dim, cfg.d_model))
            self.category = nn.Embedding(len(cfg.categories) + 1, cfg.d_model)
            nn.init.normal_(self.category.weight, std=0.02)  # not to drown the item's own features
            self.cls = nn.Parameter(0.02 * torch.randn(1, 1, cfg.d_model))
            layer = nn.TransformerEncoderLayer(
                cfg.d_model,
                cfg.heads,
                cfg.ff,
                cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.d_model)
            self.head = nn.Linear(cfg.d_model, 1)
            self.log_prior_scale = nn.Parameter(torch.tensor(math.log(5.0)))

        def prior(self, centred, mask):
            """Mean cosine of the outfit's pairs of centred embeddings (the cooccurrence baseline)."""
            unit = F.normalize(centred, dim=-1)
            cos = unit @ unit.transpose(1, 2)
            length = mask.shape[1]
            upper = torch.triu(torch.ones(length, length, dtype=torch.bool, device=mask.device), 1)
            valid = mask[:, :, None] & mask[:, None, :] & upper
            return (cos * valid).sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)

        def forward(self, emb, cat, mask):
            centred = self.centring(emb, cat)
            tokens = self.item(centred) + self.category(cat)
            x = torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], dim=1)
            pad = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)
            x = self.encoder(x, src_key_padding_mask=pad)
            learned = self.head(self.norm(x[:, 0])).squeeze(-1)
            if not cfg.prior:
                return learned
            return self.log_prior_scale.exp() * self.prior(centred, mask) + learned

    return SetTransformerNet()


@SCORERS.register("set-transformer")
class SetTransformerScorer(LearnedScorer):
    """A small transformer encoder that reads the whole outfit at once (OutfitTransformer-style)."""

    name = "set-transformer"
    config_class = SetTransformerConfig

    def build_net(self):
        return _net(self.config)
