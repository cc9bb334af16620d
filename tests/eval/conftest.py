"""Tiny generated datasets (solid-colour garments on white, with labels), written under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vestis.data.base import Dataset, split_of
from vestis.data.example import Example
from vestis.schema import Schema

COLOURS = {
    "red": (200, 25, 35),
    "navy": (20, 30, 80),
    "blue": (40, 90, 200),
    "white": (250, 250, 250),
    "black": (12, 12, 12),
    "yellow": (250, 220, 20),
}
CATEGORIES = ("top", "top", "bottom", "dress")

SCHEMA = Schema.from_dict(
    {
        "name": "mini",
        "fields": {
            "category": {"kind": "single", "weight": 2.0, "values": ["top", "bottom", "dress"]},
            "colour": {"kind": "single", "weight": 1.5, "role": "primary_colour", "values": list(COLOURS)},
            "secondary_colour": {
                "kind": "single",
                "weight": 0.5,
                "role": "secondary_colour",
                "values": list(COLOURS),
            },
            "closure": {"kind": "multi", "weight": 0.5, "values": ["zip", "buttons"]},
            "brand": {"kind": "text", "weight": 1.0},
        },
    }
)


class SyntheticDataset(Dataset):
    """Thirty garments with every label set, plus one corrupt image that falls in ``val``."""

    kind = "synthetic"

    def _load(self) -> list[Example]:
        examples = []
        names = list(COLOURS)
        for i in range(30):
            colour = names[i % len(names)]
            path = self.root / f"item-{i:02d}.png"
            if not path.exists():
                pixels = np.full((120, 90, 3), 255, np.uint8)
                pixels[20:100, 20:70] = COLOURS[colour]
                Image.fromarray(pixels).save(path)
            labels = {
                "category": CATEGORIES[i % len(CATEGORIES)],
                "colour": colour,
                "secondary_colour": None,
                "closure": ["zip"] if i % 3 == 0 else [],
                "brand": "Acme" if i % 2 else None,
            }
            examples.append(Example(id=f"item-{i:02d}", image=str(path), labels=labels))
        bad_id = next(f"broken-{j}" for j in range(1000) if split_of(f"broken-{j}") == "val")
        bad = self.root / "broken.jpg"
        bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
        examples.append(Example(id=bad_id, image=str(bad), labels={"category": "top", "colour": "red"}))
        return examples


@pytest.fixture
def mini_schema() -> Schema:
    return SCHEMA


@pytest.fixture
def synthetic_dataset(tmp_path: Path) -> SyntheticDataset:
    root = tmp_path / "data"
    root.mkdir()
    return SyntheticDataset(root, schema=SCHEMA)


class Variants(Dataset):
    """Eight products, each photographed in three colours (group = product), with titles and descriptions."""

    kind = "variants"

    def _load(self) -> list[Example]:
        from tests.helpers import draw_item

        out = []
        for p in range(8):
            category, type_ = [("top", "t_shirt"), ("bottom", "trousers")][p % 2]
            for colour in ("red", "navy", "yellow"):
                path = draw_item(self.root / f"p{p}-{colour}.jpg", colour, category, size=64 + 4 * p)
                labels = {"category": category, "type": type_, "colour": colour, "pattern": "solid"}
                title = f"{colour} {type_.replace('_', ' ')}"
                text = f"A {colour} {category} in cotton, style {p}."
                meta = {"title": title}
                out.append(Example(f"p{p}-{colour}", str(path), labels, meta, text, group=f"p{p}"))
        return out


@pytest.fixture
def variants(tmp_path: Path) -> Variants:
    root = tmp_path / "variants"
    root.mkdir()
    return Variants(root)
