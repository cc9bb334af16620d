"""Settings of ``vestis train text-bank``: the reference datasets, the embedder, the settings swept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class TextBankConfig(RecipeConfig):
    datasets: list[str] = field(
        default_factory=lambda: ["hm", "mango"],
        metadata={"help": "dataset specs: their training split is the bank, their validation split chooses"},
    )
    schema: str = field(default="vestis", metadata={"help": "schema of the attribute captions"})
    embedder: str = field(default="lite", metadata={"help": "embedder whose space the bank lives in"})
    model: str | None = field(default=None, metadata={"help": "the embedder's model (default: its own)"})
    embedder_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "more embedder options, e.g. {runtime: onnx}"}
    )
    ks: list[int] = field(default_factory=lambda: [10, 20, 50], metadata={"help": "nearest captions tried"})
    taus: list[float] = field(
        default_factory=lambda: [0.02, 0.05, 0.1], metadata={"help": "softmax temperatures tried"}
    )
    weights: list[float] = field(
        default_factory=lambda: [0.25, 0.5, 1.0],
        metadata={"help": "pivot weights tried (the direct vectors, weight 0, are always scored)"},
    )
    item_ks: list[int] = field(
        default_factory=lambda: [10, 20, 50], metadata={"help": "item side: nearest prototypes tried"}
    )
    item_taus: list[float] = field(
        default_factory=lambda: [0.02, 0.05], metadata={"help": "item side: softmax temperatures tried"}
    )
    item_weights: list[float] = field(
        default_factory=lambda: [0.25, 0.5, 1.0],
        metadata={"help": "item side: caption-match weights tried (weight 0, off, is always scored)"},
    )
    item_tolerance: float = field(
        default=0.0,
        metadata={
            "help": "item side: the R@10 it may cost any one task against the best setting without it",
            "min": 0,
        },
    )
    extractor: str | None = field(
        default="lite",
        metadata={
            "help": "backend whose attributes of the validation photos the hybrid re-ranking reads, "
            "so the choice is made on what the searcher ranks; null: vectors and the item side only"
        },
    )
    extractor_options: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "options of the extractor (lite: model defaults to --model)"}
    )
    hybrid_weight: float = field(
        default=0.1, metadata={"help": "the searcher's weight of attribute agreement", "min": 0}
    )
    candidates: int = field(
        default=200, metadata={"help": "the searcher's nearest candidates that it re-ranks", "min": 1}
    )
    val_fraction: float = field(default=0.2, metadata={"help": "held-out fraction of groups"})
    limit: int = field(
        default=0, metadata={"help": "examples per dataset and split (0: all; for tests)", "min": 0}
    )
    threads: int | None = field(default=None, metadata={"help": "embedder threads (lite)"})
    out_dir: str = field(default="runs/text-bank", metadata={"help": "output directory"})

    def validate(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must lie between 0 and 1")
        if not self.datasets:
            raise OptionsError("datasets: name at least one")
        if not self.ks or min(self.ks) < 1:
            raise OptionsError("ks: give at least one k ≥ 1")
        if not self.taus or min(self.taus) <= 0:
            raise OptionsError("taus: give at least one temperature > 0")
        if not self.weights or min(self.weights) < 0 or max(self.weights) <= 0:
            raise OptionsError("weights: give weights ≥ 0, at least one of them > 0")
        if not self.item_ks or min(self.item_ks) < 1:
            raise OptionsError("item_ks: give at least one k ≥ 1")
        if not self.item_taus or min(self.item_taus) <= 0:
            raise OptionsError("item_taus: give at least one temperature > 0")
        if not self.item_weights or min(self.item_weights) < 0:
            raise OptionsError("item_weights: give at least one weight ≥ 0 (0 alone: no item side)")
