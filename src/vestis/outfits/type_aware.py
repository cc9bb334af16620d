"""``type-aware``: pairwise compatibility in a subspace learned per pair of categories.

After Vasileva et al., "Learning Type-Aware Embeddings for Fashion Compatibility" (ECCV 2018):
a shared encoder maps each item's embedding into a general space; every unordered pair of
vestis coarse categories (top–footwear, bag–dress, ...) has its own projection of that space,
in which the two items are compared (cosine, scaled, plus a per-pair bias). A top and a pair
of shoes are then judged on what matters between tops and shoes, not on looking alike.
The outfit's score is the mean over its pairs, so :meth:`pair_scores` is exact.

``projection="mask"`` (the paper's choice: a learned diagonal per pair, few parameters) or
``"full"`` (a ``dim × proj_dim`` matrix per pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vestis.errors import OptionsError
from vestis.outfits.base import SCORERS, ItemFeatures
from vestis.outfits.learned import LearnedConfig, LearnedScorer, centring


@dataclass
class TypeAwareConfig(LearnedConfig):
    hidden: int = 256
    dim: int = 128  # general space
    projection: str = "mask"  # "mask" | "full"
    proj_dim: int = 32  # with projection="full"
    item_prior: bool = True  # a linear per-item term: how readily an item goes with anything


def _net(cfg: TypeAwareConfig):
    import torch
    import torch.nn.functional as F
    from torch import nn

    class TypeAwareNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n = len(cfg.categories) + 1  # + unknown
            index = torch.zeros(n, n, dtype=torch.long)
            k = 0
            for a in range(n):
                for b in range(a, n):
                    index[a, b] = index[b, a] = k
                    k += 1
            self.register_buffer("pair_index", index, persistent=False)
            self.centring = centring(cfg)
            # a random projection (keeps cosines: training starts near the centred-cosine baseline)
            # plus a learned correction that starts at zero
            self.project = nn.Linear(cfg.embed_dim, cfg.dim, bias=False)
            nn.init.normal_(self.project.weight, std=cfg.embed_dim**-0.5)
            self.correct = nn.Sequential(
                nn.Linear(cfg.embed_dim, cfg.hidden),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
                nn.Linear(cfg.hidden, cfg.dim),
            )
            nn.init.zeros_(self.correct[-1].weight)
            nn.init.zeros_(self.correct[-1].bias)
            if cfg.projection == "mask":
                self.masks = nn.Parameter(torch.ones(k, cfg.dim))
            elif cfg.projection == "full":
                self.projections = nn.Parameter(torch.randn(k, cfg.dim, cfg.proj_dim) / cfg.dim**0.5)
            else:
                raise OptionsError(f"projection must be 'mask' or 'full', not {cfg.projection!r}")
            self.pair_bias = nn.Parameter(torch.zeros(k))
            self.prior = nn.Linear(cfg.embed_dim, 1) if cfg.item_prior else None
            if self.prior is not None:
                nn.init.zeros_(self.prior.weight)
            self.log_scale = nn.Parameter(torch.tensor(np.log(5.0), dtype=torch.float32))

        def pair_logits(self, emb, cat, mask):
            """[B, L, L] compatibility logit of every pair (meaningless where ``mask`` is False)."""
            x = self.centring(emb, cat)
            z = self.project(x) + self.correct(x)  # [B, L, dim]
            pair = self.pair_index[cat[:, :, None], cat[:, None, :]]  # [B, L, L]
            if cfg.projection == "mask":
                m = self.masks[pair]  # [B, L, L, dim]
                left, right = z[:, :, None, :] * m, z[:, None, :, :] * m
            else:
                proj = torch.einsum("bld,kdr->blkr", z, self.projections)  # [B, L, K, r]
                b = torch.arange(z.shape[0], device=z.device)[:, None, None]
                rows = torch.arange(z.shape[1], device=z.device)
                left = proj[b, rows[None, :, None], pair]  # [B, L, L, r]: item i in the (i, j) pair's space
                right = proj[b, rows[None, None, :], pair]
            cos = F.cosine_similarity(left, right, dim=-1, eps=1e-6)
            s = self.log_scale.exp() * cos + self.pair_bias[pair]
            if self.prior is not None:  # half of each item's prior on each of its pairs: the mean stays exact
                p = self.prior(x).squeeze(-1)
                s = s + (p[:, :, None] + p[:, None, :]) / 2
            return s

        def forward(self, emb, cat, mask):
            s = self.pair_logits(emb, cat, mask)
            length = mask.shape[1]
            upper = torch.triu(torch.ones(length, length, dtype=torch.bool, device=mask.device), 1)
            valid = mask[:, :, None] & mask[:, None, :] & upper
            return (s * valid).sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)

    return TypeAwareNet()


@SCORERS.register("type-aware")
class TypeAwareScorer(LearnedScorer):
    """Pairwise compatibility in a subspace learned per pair of categories (Vasileva et al., 2018)."""

    name = "type-aware"
    config_class = TypeAwareConfig

    def build_net(self):
        return _net(self.config)

    def pair_scores(self, outfit: Sequence[ItemFeatures]) -> np.ndarray:
        with self._torch.inference_mode():
            s = self.net.pair_logits(*self.pack([outfit]))[0].double().numpy()
        np.fill_diagonal(s, np.nan)
        return s
