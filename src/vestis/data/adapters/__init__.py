"""Built-in dataset adapters; importing this package registers them."""

from __future__ import annotations

from vestis.data.adapters import (
    coco,
    deepfashion,
    fashioniq,
    folder,
    polyvore,
    shared,
    street,
    table,
    teacher,
)

__all__ = ["coco", "deepfashion", "fashioniq", "folder", "polyvore", "shared", "street", "table", "teacher"]
