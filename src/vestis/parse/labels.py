"""Label maps: a dataset's per-pixel labels → the parser's classes, read from YAML in the package.

>>> lm = load_label_map("street")
>>> lm.classes[:4], lm.class_of("blazer"), lm.class_of("leggings")
(('background', 'skin', 'hair', 'top'), 'outerwear', 'bottom')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from vestis.errors import UserError
from vestis.parse.base import COARSE, NON_GARMENT

CLASSES = NON_GARMENT + COARSE  # the parser's logits, in order


class LabelMapError(UserError, ValueError):
    """A label map that is missing or does not cover its dataset's labels."""


@dataclass(frozen=True)
class LabelMap:
    """Which parser class each raw label means, and which classes merge their components."""

    name: str
    classes: tuple[str, ...]
    label_class: dict[str, str]  # raw label name → class name
    merge: frozenset[str]
    path: str = ""  # the YAML file it was read from

    def class_of(self, label: str) -> str | None:
        return self.label_class.get(label)

    def lookup(self, label_names: list[str]) -> np.ndarray:
        """uint8 table: raw label index (position in ``label_names``) → class index; 256 entries."""
        lut = np.zeros(256, dtype=np.uint8)
        for i, name in enumerate(label_names):
            if name not in self.label_class:
                raise LabelMapError(f"label {name!r} is not in the {self.name!r} label map")
            lut[i] = self.classes.index(self.label_class[name])
        return lut

    def garments(self, tags: list[str]) -> set[str]:
        """The coarse garment classes a list of raw tags names (unknown tags ignored)."""
        return {c for t in tags if (c := self.label_class.get(t)) in COARSE}


def list_label_maps() -> list[str]:
    """Shipped label maps by name (``{source}__{schema}.yaml`` beside them are schema mappings of the
    same raw labels, read with :class:`vestis.schema.mapping.Mapping`)."""
    return sorted(
        p.name[:-5]
        for p in resources.files("vestis.parse").joinpath("labelmaps").iterdir()
        if p.name.endswith(".yaml") and "__" not in p.name
    )


@lru_cache(maxsize=8)
def load_label_map(name_or_path: str = "street") -> LabelMap:
    """A shipped label map by name, or a YAML file with ``classes``, ``labels`` and ``merge``."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = Path(str(resources.files("vestis.parse").joinpath("labelmaps", f"{name_or_path}.yaml")))
    if not path.is_file():
        raise LabelMapError(f"no label map {name_or_path!r}; shipped: {', '.join(list_label_maps())}")
    data = yaml.safe_load(path.read_text())
    classes = tuple(data["classes"])
    if classes != CLASSES:
        raise LabelMapError(f"{path}: classes must be {list(CLASSES)}")
    label_class = {str(label): cls for cls, labels in data["labels"].items() for label in labels}
    unknown = set(data["labels"]) - set(classes)
    if unknown:
        raise LabelMapError(f"{path}: unknown classes {sorted(unknown)}")
    return LabelMap(path.stem, classes, label_class, frozenset(data.get("merge", [])), str(path))
