"""Photos given on a command line or in folders, one by one or grouped per item.

An *item* is one garment photographed one or more times (front, back, care label). Items come
from ``--item a.jpg,b.jpg`` lists, or from a folder whose sub-folders each hold one item's photos:

    shop/
      item-001/front.jpg  item-001/back.jpg  item-001/label.jpg
      item-002/front.jpg

>>> photos_by_item([])
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vestis.errors import InputError
from vestis.images import is_image_path


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, directories walked recursively for images (sorted); a missing path is an error."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and is_image_path(q)))
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"no such file or directory: {p}")
    return out


def photos_by_item(paths: Sequence[str | Path]) -> list[list[Path]]:
    """One list of photos per item: a file is an item of one photo; in a directory, the images
    directly inside each sub-folder (at any depth) form one item, sorted by name."""
    items: list[list[Path]] = []
    for p in map(Path, paths):
        if not p.is_dir():
            items.append(image_files([p]))
            continue
        groups: dict[Path, list[Path]] = {}
        for f in image_files([p]):
            groups.setdefault(f.parent, []).append(f)
        items.extend(groups[k] for k in sorted(groups))
    return items


def parse_item(spec: str) -> list[Path]:
    """``"front.jpg,back.jpg,label.jpg"`` → the photos of one item (each must exist)."""
    photos = [Path(s.strip()) for s in spec.split(",") if s.strip()]
    if not photos:
        raise InputError(f"--item needs comma-separated photo paths, got {spec!r}")
    return image_files(photos)
