"""Configuration of the garment-parser recipe (``vestis train parser``; defaults give the shipped one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class ParserTrainConfig(RecipeConfig):
    calibrate: str | None = field(
        default=None,
        metadata={
            "help": "only calibrate this trained parser's decisions (a model directory or run out_dir; "
            "vestis-parser: the shipped one) into out_dir/model, its weights copied unchanged"
        },
    )
    data: str | None = field(
        default=None, metadata={"help": "street/ directory with label maps (default: $VESTIS_DATA/street)"}
    )
    label_map: str = field(default="street", metadata={"help": "label map (shipped name or YAML file)"})
    product_datasets: list[str] = field(
        default_factory=lambda: ["hm", "mango", "clothing"],
        metadata={"help": "product-shot datasets whose train split calibrates the product/person rule"},
    )
    calibration_limit: int = field(
        default=1000, metadata={"help": "product shots per dataset used for calibration", "min": 1}
    )
    product_rate: float = field(
        default=0.99,
        metadata={"help": "share of each source's train product shots the person rule must call product"},
    )
    crops: bool = field(
        default=True,
        metadata={
            "help": "calibrate the person rule on crops of the photos too (head to waist, waist down, torso)"
        },
    )
    image_size: int = field(
        default=320, metadata={"help": "input resolution (letterboxed square)", "min": 64}
    )
    width: int = field(default=64, metadata={"help": "channels of the segmentation head", "min": 4})
    epochs: int = field(default=12, metadata={"help": "passes over the training photos", "min": 1})
    batch_size: int = field(default=32, metadata={"help": "photos per step", "min": 1})
    lr: float = field(default=3e-3, metadata={"help": "AdamW learning rate (one-cycle)", "min": 0})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay", "min": 0})
    class_balance: float = field(
        default=0.5,
        metadata={"help": "class weights = (median frequency / frequency) ** this; 0 = unweighted", "min": 0},
    )
    hflip: bool = field(default=True, metadata={"help": "also train on horizontally flipped photos"})
    val_fraction: float = field(default=0.2, metadata={"help": "share of photos held out (hash of the name)"})
    min_area: float = field(
        default=0.001,
        metadata={
            "help": "garment components below this share of the image are dropped (0.001: about one cell "
            "of the head's 1/8 output on a 320 px photo); presence calibrates a share per class above it",
            "min": 0,
        },
    )
    seed: int = field(default=0, metadata={"help": "random seed (init, order, flips)", "min": 0})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: torch's choice)", "min": 1}
    )
    out_dir: str = field(default="runs/parser", metadata={"help": "checkpoint, report.json and model/"})
    cache_dir: str = field(default=".vestis-cache", metadata={"help": "cache of backbone features"})

    def validate(self) -> None:
        if self.image_size % 32:
            raise OptionsError("image_size must be a multiple of 32 (EfficientNet-Lite's padding assumes it)")
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
        if not 0 < self.product_rate < 1:
            raise OptionsError("product_rate must be in (0, 1)")
