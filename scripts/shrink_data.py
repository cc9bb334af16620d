"""Copy development data small enough to carry to a remote GPU machine (a size cap per transfer).

Product and phone photos are letterboxed down to the VLM's input size (longest side 160, bilinear,
as vestis.models.preprocess resizes) and re-encoded as JPEG; the CSVs are copied unchanged, so the
dataset adapters open the copy as they open the original. ``street-garments`` is written as a
prebuilt crop cache (its ``index.json`` and the shrunk crops), which the adapter reads without the
photos: open it as ``street-garments:DST/street?cache=DST/street-crops``. ``--clothing-train N``
keeps every validation photo of clothing/ and only its first N training photos.

    .venv/bin/python scripts/shrink_data.py .gpu/data80 --quality 80 --clothing-train 2500
    VESTIS_DATA=.gpu/data80 .venv/bin/python benchmarks/vlm_tiny_eval.py ...
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from vestis.data import open_dataset
from vestis.data.base import default_data_root

SIZE = 160


def shrink(src: Path, dst: Path, quality: int) -> None:
    img = Image.open(src).convert("RGB")
    scale = SIZE / max(img.size)
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.BILINEAR, reducing_gap=2.0 if scale < 0.5 else None)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst.with_suffix(".jpg"), quality=quality)


def copy_table(src: Path, dst: Path, quality: int, keep: set[str] | None = None) -> int:
    """items.csv (and the folder's other CSVs) with every listed photo shrunk; ``keep``: the photos kept."""
    dst.mkdir(parents=True, exist_ok=True)
    for table in src.glob("*.csv"):
        shutil.copy(table, dst / table.name)
    with open(src / "items.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if keep is not None:
        rows = [r for r in rows if Path(r["image"]).name in keep]
        with open(dst / "items.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if any(not r["image"].lower().endswith((".jpg", ".jpeg")) for r in rows):
        raise SystemExit(f"{src}: only JPEG photos keep their names when re-encoded")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: shrink(src / r["image"], dst / r["image"], quality), rows))
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dst", type=Path)
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--clothing-train", type=int, default=None, help="keep only the first N training photos")
    args = ap.parse_args()
    root = default_data_root()
    for name in ("hm", "mango", "clothing"):
        keep = None
        if name == "clothing" and args.clothing_train is not None:
            ds = open_dataset(f"clothing:{root / name}")
            keep = {Path(e.image).name for e in ds.split("val")}
            keep |= {Path(e.image).name for e in ds.split("train")[: args.clothing_train]}
        print(name, copy_table(root / name, args.dst / name, args.quality, keep), "photos")
    cache = args.dst / "street-crops-png"
    ds = open_dataset(f"street-garments:{root / 'street'}?cache={cache}")
    ds.split("train")  # writes the crops and index.json
    index = json.loads((cache / "index.json").read_text())
    crops = args.dst / "street-crops"
    crops.mkdir(parents=True, exist_ok=True)
    for garment in index:
        shrink(cache / garment["file"], crops / garment["file"], args.quality)
        garment["file"] = Path(garment["file"]).with_suffix(".jpg").name
    (crops / "index.json").write_text(json.dumps(index))
    shutil.rmtree(cache)
    (args.dst / "street").mkdir(exist_ok=True)
    shutil.copy(root / "street" / "labels.txt", args.dst / "street" / "labels.txt")
    print("street-garments", len(index), "crops")


if __name__ == "__main__":
    main()
