"""vestis-lite's ``config.json`` and checksums, without torch (the ONNX query path reads only these).

>>> LiteModelConfig.from_dict({"embed_dim": 128, "unknown": 1}).embed_dim
128
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vestis.cache import sha256_file as sha256
from vestis.models.registry import ModelError, ModelNotFound


@dataclass
class LiteModelConfig:
    """Architecture and inference settings, stored as ``config.json``."""

    image_size: int = 160
    split: int = 11  # blocks [split, 16) are trained; lower blocks keep their ImageNet weights
    embed_dim: int = 256
    dropout: float = 0.2
    heads: dict[str, list[str]] = field(default_factory=dict)  # field → vocabulary (order = logits)
    multi: list[str] = field(default_factory=list)  # fields whose head is multi-label (sigmoid)
    temperatures: dict[str, float] = field(default_factory=dict)  # per-field calibration
    thresholds: dict[str, float] = field(default_factory=dict)  # below → null (single) / excluded (multi)
    default_threshold: float = 0.3
    # heads with no reliable signal on held-out data (head → reason): their fields come back null
    disabled: dict[str, str] = field(default_factory=dict)
    # head → value → threshold: a value is asserted only at or above it (null: never); values not
    # listed keep the field threshold (see vestis.train.lite_reliability)
    value_thresholds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # heads with no reliable signal on garments worn in photos of people (head → reason, measured
    # by benchmarks/people.py): on such garments their fields come back null
    worn_disabled: dict[str, str] = field(default_factory=dict)
    colour_dim: int = 0  # > 0: colour heads also see pixel colour statistics (vestis.colour)
    colour_heads: list[str] = field(default_factory=list)
    schema: str = "vestis"
    caption_vocabulary: list[str] = field(default_factory=list)  # words seen in training captions
    version: str = "1"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiteModelConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def threshold(self, field_name: str) -> float:
        return self.thresholds.get(field_name, self.default_threshold)

    @classmethod
    def read(cls, directory: str | Path) -> LiteModelConfig:
        """The config of a model directory."""
        path = Path(directory) / "config.json"
        if not path.is_file():
            raise ModelNotFound(f"not a vestis-lite model directory (no config.json): {directory}")
        return cls.from_dict(json.loads(path.read_text()))


def write_config(directory: str | Path, config: LiteModelConfig) -> None:
    """Rewrite a model directory's ``config.json`` (inference settings: gates, thresholds) and its
    entry in ``checksums.json``; the weights, and so the model id, stay as they are."""
    from dataclasses import asdict

    directory = Path(directory)
    (directory / "config.json").write_text(json.dumps(asdict(config), indent=1))
    if (directory / "checksums.json").is_file():
        update_checksums(directory, ["config.json"])


def update_checksums(directory: Path, names: list[str] | None = None) -> None:
    """Recompute the ``checksums.json`` entries of the files ``names`` (added when missing), or of
    every file it lists (None), after those files were rewritten."""
    path = directory / "checksums.json"
    sums = json.loads(path.read_text()) if path.is_file() else {}
    for name in sums if names is None else names:
        if (directory / name).is_file():
            sums[name] = sha256(directory / name)
    path.write_text(json.dumps(sums, indent=1) + "\n")


def verify_checksums(
    directory: Path,
    digest: Callable[[Path], str] = sha256,
    names: tuple[str, ...] | None = ("config.json", "model.safetensors"),
) -> None:
    """Raise ModelError when the files ``names`` (None: every file listed) differ from ``checksums.json``."""
    sums_path = directory / "checksums.json"
    if not sums_path.is_file():
        return
    for name, expected in json.loads(sums_path.read_text()).items():
        path = directory / name
        if (names is None or name in names) and (not path.is_file() or digest(path) != expected):
            raise ModelError(f"{path}: checksum mismatch; the model files are corrupt or were edited")


__all__ = ["LiteModelConfig", "sha256", "update_checksums", "verify_checksums"]
