"""Configuration of the contrastive recipe: both towers of vestis-lite fine-tuned for retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig

LOSSES = ("clip", "siglip")


@dataclass
class ContrastiveTrainConfig(RecipeConfig):
    base: str = field(
        default="vestis-lite",
        metadata={"help": "vestis-lite model to start from; it is also the frozen teacher"},
    )
    datasets: list[str] = field(
        default_factory=lambda: ["hm", "mango", "clothing", "street-garments"],
        metadata={"help": "dataset specs whose image–text pairs train (train splits) and validate"},
    )
    schema: str = field(default="vestis", metadata={"help": "schema of the attribute phrases"})
    loss: str = field(
        default="clip",
        metadata={
            "help": "symmetric image–text loss: clip (softmax InfoNCE, learnable temperature) or "
            "siglip (sigmoid over every pair, learnable temperature and bias)"
        },
    )
    distill_weight: float = field(
        default=1.0,
        metadata={
            "help": "weight of the distillation term: KL from the teacher's in-batch similarity rows "
            "(image→text and text→image) to the student's; 0 = off",
            "min": 0,
        },
    )
    distill_temperature: float | None = field(
        default=None,
        metadata={"help": "temperature of both sides' similarity rows (default: the teacher's)", "min": 0},
    )
    hard_negative_share: float = field(
        default=0.5,
        metadata={
            "help": "share of each batch filled with near neighbours (under the teacher's image "
            "embeddings) of the rest of the batch; 0 = random batches",
            "min": 0,
            "max": 0.9,
        },
    )
    hard_negative_k: int = field(
        default=10, metadata={"help": "neighbours mined per training image (once, cached)", "min": 1}
    )
    train_image: bool = field(
        default=True,
        metadata={
            "help": "fine-tune the image tower's upper blocks (from the base model's split); false: only "
            "the image projection trains and the extraction heads' outputs stay exactly the base "
            "model's (zero-shot fields, read from the shared space, follow the new towers either way)"
        },
    )
    update_batchnorm: bool = field(
        default=False,
        metadata={
            "help": "update the upper blocks' batch-norm statistics in training; false keeps the base "
            "model's (the extraction heads read them, and small hard-negative batches skew them)"
        },
    )
    freeze_text: bool = field(
        default=False,
        metadata={"help": "keep MiniLM frozen (only the text projection trains, as in `vestis train lite`)"},
    )
    text_frozen_layers: int = field(
        default=0,
        metadata={
            "help": "MiniLM's lowest transformer layers kept frozen (with its token embeddings when > 0)",
            "min": 0,
            "max": 6,
        },
    )
    head_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of the extraction heads' losses (they then follow the new image tower); "
            "0 = heads carried over from the base model unchanged",
            "min": 0,
        },
    )
    max_text_tokens: int = field(
        default=64, metadata={"help": "tokens per caption seen by MiniLM in training", "min": 8}
    )
    epochs: int = field(default=2, metadata={"help": "passes over the training split", "min": 1})
    batch_size: int = field(default=64, metadata={"help": "image–text pairs per step", "min": 2})
    lr: float = field(
        default=1e-4,
        metadata={"help": "learning rate of the projections (and of the loss's scalars)", "min": 0},
    )
    scale_lr: float | None = field(
        default=None,
        metadata={
            "help": "learning rate of the loss's own scalars: CLIP's logit scale, SigLIP's temperature and "
            "bias (default: lr; a short fine-tune barely moves them at lr)",
            "min": 0,
        },
    )
    image_lr: float = field(
        default=5e-5, metadata={"help": "learning rate of the upper image blocks", "min": 0}
    )
    text_lr: float = field(default=2e-5, metadata={"help": "learning rate of MiniLM", "min": 0})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay", "min": 0})
    val_fraction: float = field(default=0.2, metadata={"help": "fraction of groups held out"})
    limit: int | None = field(default=None, metadata={"help": "use at most N examples per dataset", "min": 1})
    seed: int = field(default=0, metadata={"help": "random seed (data order, dropout)", "min": 0})
    stop_after: int | None = field(
        default=None,
        metadata={
            "help": "stop after N epochs and write the model as it is then (the schedule still spans "
            "epochs: rerun without it to go on)",
            "min": 1,
        },
    )
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: all cores)", "min": 1}
    )
    out_dir: str = field(
        default="runs/contrastive", metadata={"help": "checkpoint, report.json and the model directory"}
    )
    cache_dir: str = field(default=".vestis-cache", metadata={"help": "feature and neighbour cache"})

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise OptionsError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
        if not 0 <= self.hard_negative_share < 1:
            raise OptionsError("hard_negative_share must be in [0, 1)")
        if self.distill_temperature is not None and self.distill_temperature <= 0:
            raise OptionsError("distill_temperature must be positive")
