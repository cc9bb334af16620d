"""Configuration of the vestis-lite training recipe (defaults reproduce the shipped model)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class LiteTrainConfig(RecipeConfig):
    datasets: list[str] = field(
        default_factory=lambda: ["hm", "mango", "clothing"],
        metadata={"help": "dataset specs to train on (their train splits)"},
    )
    schema: str = field(default="vestis", metadata={"help": "schema whose closed fields get heads"})
    image_size: int = field(
        default=160, metadata={"help": "input resolution (letterboxed square)", "min": 32}
    )
    split: int = field(
        default=11, metadata={"help": "first trained block of 16; 16 = frozen backbone", "min": 0, "max": 16}
    )
    colour_features: bool = field(
        default=True, metadata={"help": "feed pixel colour statistics to the colour heads (vestis.colour)"}
    )
    freeze_backbone: bool = field(
        default=False, metadata={"help": "train heads and projections only (linear probe; for comparison)"}
    )
    embed_dim: int = field(default=256, metadata={"help": "shared image–text embedding size", "min": 1})
    epochs: int = field(default=10, metadata={"help": "passes over the training split", "min": 1})
    batch_size: int = field(default=128, metadata={"help": "examples per step", "min": 1})
    lr: float = field(default=2e-3, metadata={"help": "learning rate of heads and projections", "min": 0})
    backbone_lr: float = field(
        default=5e-4, metadata={"help": "learning rate of the trained upper blocks", "min": 0}
    )
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay", "min": 0})
    label_smoothing: float = field(
        default=0.1, metadata={"help": "label smoothing of single-label heads", "min": 0, "max": 1}
    )
    contrastive_weight: float = field(
        default=1.0, metadata={"help": "weight of the image–text loss", "min": 0}
    )
    hflip: bool = field(default=True, metadata={"help": "also train on horizontally flipped images"})
    worn_augment: float = field(
        default=0.0,
        metadata={
            "help": "chance that a step sees a product shot made to look worn and photographed "
            "(vestis.train.augment: background, crop, lighting; one cached variant per image); 0 = off",
            "min": 0,
            "max": 1,
        },
    )
    val_fraction: float = field(default=0.2, metadata={"help": "fraction of groups held out"})
    limit: int | None = field(default=None, metadata={"help": "use at most N examples per dataset", "min": 1})
    seed: int = field(default=0, metadata={"help": "random seed (data order, init)", "min": 0})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: all cores)", "min": 1}
    )
    default_threshold: float = field(
        default=0.3, metadata={"help": "confidence below which a field is null", "min": 0, "max": 1}
    )
    out_dir: str = field(
        default="runs/lite", metadata={"help": "checkpoints, report and the model directory"}
    )
    cache_dir: str = field(default=".vestis-cache", metadata={"help": "feature cache"})

    def validate(self) -> None:
        if self.image_size % 32:
            raise OptionsError("image_size must be a multiple of 32 (EfficientNet-Lite's padding assumes it)")
        if not 0 <= self.split <= 16:
            raise OptionsError("split must be between 0 and 16")
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
