"""What every recipe config shares: YAML/dict loading with unknown keys refused, and validation."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vestis.errors import OptionsError
from vestis.options import check_fields

C = TypeVar("C", bound="RecipeConfig")


class RecipeConfig:
    """Mixin for recipe config dataclasses; subclasses override :meth:`validate`."""

    @classmethod
    def from_file(cls: type[C], path: str | Path, **overrides: Any) -> C:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise OptionsError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise OptionsError(f"config {path} must be a mapping of keys to values")
        return cls.from_dict({**data, **overrides})

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        cfg = cls(**check_fields(cls, data, what="config key"))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise :class:`~vestis.errors.OptionsError` for settings that cannot work together."""

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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file renamed over ``path``: a kill never leaves a torn checkpoint."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(
    path: Path, cfg: RecipeConfig, fresh: bool = False, ignore: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The checkpoint a run resumes from: None when there is none or ``fresh``; one written with
    another config is refused (resuming it would silently mix two runs). Settings named in
    ``ignore`` (where the run stops, how often it validates) may differ."""
    if fresh or not path.is_file():
        return None
    import torch

    ckpt = torch.load(path, weights_only=False)
    saved, now = ({k: v for k, v in c.items() if k not in ignore} for c in (ckpt["config"], cfg.to_dict()))
    if saved != now:
        unset = object()
        differ = sorted(k for k in saved.keys() | now.keys() if saved.get(k, unset) != now.get(k, unset))
        raise OptionsError(
            f"{path} was written with another config ({', '.join(differ)} differ); pass --fresh to start over"
        )
    return ckpt
