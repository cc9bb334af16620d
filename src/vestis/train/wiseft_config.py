"""Configuration of ``vestis train wiseft``: which two models, which α, which tasks, which rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig

TASKS = ("extract", "retrieve")


@dataclass
class WiseFTConfig(RecipeConfig):
    base: str = field(
        default="vestis-lite",
        metadata={"help": "base model directory, α = 0 (default: the shipped vestis-lite)"},
    )
    tuned: str | None = field(
        default=None,
        metadata={"help": "fine-tuned model directory of the same architecture, α = 1 (required)"},
    )
    alphas: list[float] = field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        metadata={"help": "α values to blend and evaluate (0 is always added: the rule compares with it)"},
    )
    extrapolate: bool = field(default=False, metadata={"help": "allow α outside [0, 1]"})
    in_domain: list[str] = field(
        default_factory=lambda: ["hm", "mango"],
        metadata={"help": "in-domain dataset specs (α is chosen on these)"},
    )
    out_of_domain: list[str] = field(
        default_factory=lambda: ["clothing", "street-garments"],
        metadata={"help": "out-of-domain dataset specs (none may fall more than ood_tolerance)"},
    )
    tasks: list[Literal["extract", "retrieve"]] = field(
        default_factory=lambda: list(TASKS),
        metadata={
            "help": "extract: mean accuracy over `fields`; retrieve: text→image R@10 (hybrid, product "
            "level) where the dataset has titles or descriptions"
        },
    )
    fields: list[str] | None = field(
        default=None,
        metadata={"help": "fields averaged by the extract task (default: the schema's listing role)"},
    )
    schema: str = field(default="vestis", metadata={"help": "schema the extract task scores"})
    split: Literal["train", "val", "all"] = field(default="val", metadata={"help": "split evaluated"})
    limit: int | None = field(
        default=None, metadata={"help": "at most this many examples per dataset and task", "min": 1}
    )
    ood_tolerance: float = field(
        default=0.02,
        metadata={"help": "how far below the base model an out-of-domain score may fall", "min": 0},
    )
    runtime: Literal["auto", "onnx", "torch"] = field(
        default="torch", metadata={"help": "vestis-lite runtime (torch: no ONNX export per blend)"}
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads", "min": 1})
    keep_blends: bool = field(
        default=False, metadata={"help": "keep every α's model in out_dir/blends/alpha-X (else temporary)"}
    )
    out_dir: str = field(
        default="runs/wiseft", metadata={"help": "model/ (the chosen blend), report.json, alpha_curve.png"}
    )

    def validate(self) -> None:
        if not self.tuned:
            raise OptionsError("tuned is required: --set tuned=DIR (the fine-tuned model)")
        if not self.alphas:
            raise OptionsError("alphas is empty: give at least one α, e.g. --set alphas=[0,0.5,1]")
        bad = next((a for a in self.alphas if not (self.extrapolate or 0 <= a <= 1)), None)
        if bad is not None:
            raise OptionsError(f"alpha {bad} is outside [0, 1]; --set extrapolate=true to allow it")
        if not self.in_domain:
            raise OptionsError("in_domain is empty: α is chosen on the in-domain scores")
        if not self.tasks:
            raise OptionsError("tasks is empty: give extract, retrieve or both")
        if overlap := sorted(set(self.in_domain) & set(self.out_of_domain)):
            raise OptionsError(f"{overlap[0]} is both in-domain and out-of-domain")
