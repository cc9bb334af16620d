"""Settings of ``vestis train composer``: triplet mining and the two training stages."""

from __future__ import annotations

from dataclasses import dataclass, field

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class ComposerTrainConfig(RecipeConfig):
    datasets: list[str] = field(default_factory=lambda: ["hm", "mango"], metadata={"help": "dataset specs"})
    model: str | None = field(default=None, metadata={"help": "vestis-lite directory (default: shipped)"})
    epochs: int = field(
        default=40,
        metadata={
            "help": "stage 1: passes over the triplets (combiner on cached embeddings)",
            "min": 1,
        },
    )
    batch_size: int = field(default=256, metadata={"help": "triplets per step", "min": 1})
    lr: float = field(default=1e-3, metadata={"help": "stage 1: AdamW learning rate", "min": 0})
    hidden: int = field(default=512, metadata={"help": "combiner hidden size", "min": 1})
    max_edits: int = field(
        default=30000, metadata={"help": "neighbour edit triplets sampled per training dataset", "min": 0}
    )
    neighbours: int = field(
        default=10,
        metadata={"help": "edit pairs: nearest same-type items (image embeddings) per item", "min": 1},
    )
    max_differences: int = field(
        default=3, metadata={"help": "edit pairs: most attributes a relative caption names", "min": 1}
    )
    val_edits: int = field(
        default=3000,
        metadata={
            "help": "neighbour edit triplets per dataset for a second validation report (the variant "
            "protocol alone decides shipping)",
            "min": 0,
        },
    )
    stage2_epochs: int = field(
        default=2,
        metadata={
            "help": "stage 2: passes also training MiniLM's upper layers (0: none)",
            "min": 0,
        },
    )
    stage2_triplets: int = field(
        default=16384, metadata={"help": "stage 2: triplets drawn per epoch (0: all of them)", "min": 0}
    )
    stage2_lr: float = field(default=1e-4, metadata={"help": "stage 2: combiner learning rate", "min": 0})
    text_lr: float = field(default=2e-5, metadata={"help": "stage 2: MiniLM's learning rate", "min": 0})
    text_frozen_layers: int = field(
        default=4,
        metadata={
            "help": "stage 2: MiniLM layers frozen from the bottom (and the embeddings)",
            "min": 0,
        },
    )
    max_text_tokens: int = field(
        default=32, metadata={"help": "stage 2: tokens per caption MiniLM sees in training", "min": 8}
    )
    val_fraction: float = field(default=0.2, metadata={"help": "held-out fraction of groups"})
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's)"})
    seed: int = field(default=0, metadata={"help": "random seed", "min": 0})
    out_dir: str = field(default="runs/composer", metadata={"help": "output directory"})

    def validate(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must lie between 0 and 1")
