"""What every recipe config shares: YAML/dict loading with unknown keys refused, and validation."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C", bound="RecipeConfig")


class RecipeConfig:
    """Mixin for recipe config dataclasses; subclasses override :meth:`validate`."""

    @classmethod
    def from_file(cls: type[C], path: str | Path, **overrides: Any) -> C:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict({**data, **overrides})

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(names)}")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python's, numpy's and torch's global generators; set torch's thread count if given."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
