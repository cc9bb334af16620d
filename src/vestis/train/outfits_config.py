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
        default="type-aware",
        metadata={
            "help": "scorer: type-aware, set-transformer (trained), or cooccurrence (only calibrated and "
            "given a structure)"
        },
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
    calibration: str = field(
        default="platt",
        metadata={"help": "raw score → probability: platt, isotonic, or none (no calibration split)"},
    )
    calibration_fraction: float = field(
        default=0.15,
        metadata={
            "help": "share of the training-side outfits held out (item-disjointly) to fit the calibration on",
            "min": 0,
            "max": 0.5,
        },
    )
    calibration_refit: bool = field(
        default=True,
        metadata={
            "help": "after fitting the calibration on the model trained without the calibration looks, "
            "retrain on all training looks (them included) with the same recipe and keep that "
            "calibration, as scikit-learn's CalibratedClassifierCV(ensemble=False) does; false: ship the "
            "model trained without them"
        },
    )
    structure_min_share: float = field(
        default=0.1,
        metadata={
            "help": "structure: a count of a category reached by fewer than this share of the real looks "
            "holding the category is a structural problem (and a slot is needed only if this share of "
            "the looks holding each category of a look also hold it)",
            "min": 0,
            "max": 1,
        },
    )
    structure_exclusive_share: float = field(
        default=0.05,
        metadata={
            "help": "structure: two categories that fewer than this share of the real looks holding the "
            "rarer also hold do not go together (a dress and a bottom)",
            "min": 0,
            "max": 1,
        },
    )
    photo_looks: str | None = field(
        default=None,
        metadata={
            "help": "folder of photos of people in the street format (items.csv: image, tags): the garments "
            "of its train-split photos (found by photo_parser) become extra training looks"
        },
    )
    photo_parser: str = field(default="lite-parser", metadata={"help": "parser of the photo looks' garments"})
    align_photo_looks: bool = field(
        default=True,
        metadata={
            "help": "move each category's mean embedding of the photo looks' garments onto that of the "
            "dataset's training items (worn crops and product shots differ as a whole)"
        },
    )
    dataset_looks: bool = field(
        default=True,
        metadata={
            "help": "train on the dataset's training looks (false: on the photo looks alone; the dataset "
            "still gives the calibration and validation looks)"
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
        if self.calibration not in ("platt", "isotonic", "none"):
            raise OptionsError(f"calibration must be platt, isotonic or none, not {self.calibration!r}")
        if not self.dataset_looks and not self.photo_looks:
            raise OptionsError("dataset_looks=false needs photo_looks: there would be nothing to train on")
