"""Configuration of the outfit-compatibility recipe (``vestis train outfits``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class OutfitsTrainConfig(RecipeConfig):
    dataset: str = field(
        default="mango", metadata={"help": "dataset spec with outfits (mango, polyvore:DIR)"}
    )
    model: str | None = field(
        default=None,
        metadata={"help": "vestis-lite directory whose embeddings to learn on (default: shipped)"},
    )
    scorer: str = field(
        default="type-aware", metadata={"help": "learned scorer: type-aware, set-transformer"}
    )
    scorer_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "architecture fields of the scorer, e.g. {layers: 3}"}
    )
    epochs: int = field(
        default=11,
        metadata={
            "help": "passes over the training outfits (with keep_partial ~2.7x more of them on Mango)",
            "min": 1,
        },
    )
    batch_size: int = field(default=64, metadata={"help": "real outfits per step", "min": 1})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (cosine decay)", "min": 0})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay", "min": 0})
    swap_negatives: int = field(
        default=3,
        metadata={
            "help": "fill-in-the-blank negatives per outfit (one item swapped, same category)",
            "min": 0,
        },
    )
    uniform_negative_share: float = field(
        default=0.5,
        metadata={
            "help": "share of negative outfits whose items are drawn uniformly; the rest draw items as often "
            "as they occur in outfits, so popularity is no cue and only fit between items is learned",
            "min": 0,
            "max": 1,
        },
    )
    fitb_weight: float = field(
        default=1.0, metadata={"help": "weight of the fill-in-the-blank ranking loss", "min": 0}
    )
    subset_prob: float = field(
        default=0.3,
        metadata={"help": "share of outfits trained as a random sub-outfit (>= 2 items)", "min": 0, "max": 1},
    )
    val_fraction: float = field(
        default=0.15, metadata={"help": "share of outfits in the item-disjoint val split"}
    )
    keep_partial: bool = field(
        default=True,
        metadata={
            "help": "also train on the outfits that share items with validation outfits, with those items "
            "removed (still item-disjoint: no validation item is trained on)"
        },
    )
    train_on_shared: bool = field(
        default=False,
        metadata={
            "help": "also train on the outfits that share items with validation outfits (a non-disjoint "
            "split, as in published non-disjoint results: items seen in training get scored again)"
        },
    )
    seed: int = field(default=0, metadata={"help": "random seed (init, order, negatives)", "min": 0})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: torch's choice)", "min": 1}
    )
    out_dir: str = field(default="runs/outfits", metadata={"help": "output directory (model/, report.json)"})
    cache_dir: str = field(default=".vestis-cache", metadata={"help": "cache of item embeddings"})

    def validate(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
        if not 0 <= self.uniform_negative_share <= 1:
            raise OptionsError("uniform_negative_share must be in [0, 1]")
        if self.epochs < 1 or self.batch_size < 1:
            raise OptionsError("epochs and batch_size must be positive")
