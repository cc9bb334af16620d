"""Tiny on-the-fly fixtures in every supported dataset format, written under ``tmp_path``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (8, 8), color: str = "red") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


HM_COLUMNS = (
    "product_type_name",
    "product_group_name",
    "graphical_appearance_name",
    "colour_group_name",
    "perceived_colour_value_name",
    "perceived_colour_master_name",
    "department_name",
    "index_name",
    "index_group_name",
    "section_name",
    "garment_group_name",
)


def build_folder(root: Path) -> Path:
    write_image(root / "b.jpg")
    write_image(root / "a" / "c.png")
    (root / "notes.txt").write_text("not an image")
    write_image(root / ".hidden" / "d.jpg")
    return root


def build_table(root: Path) -> Path:
    write_image(root / "img" / "1.jpg")
    write_image(root / "img" / "2.jpg")
    return write_csv(
        root / "items.csv",
        [
            {"image": "img/1.jpg", "id": "a", "product": "p1", "title": "Red tee", "desc": "Cotton"},
            {"image": "img/2.jpg", "id": "b", "product": "p1", "title": "Blue tee", "desc": ""},
        ],
    )


def build_hm(root: Path) -> Path:
    rows = []
    for article, product, name, ptype, desc in [
        ("0100000001", "100000", "Slim trousers", "Trousers", "Trousers in woven fabric."),
        ("0100000002", "100000", "Slim trousers", "Trousers", "Trousers in woven fabric."),
        ("0200000001", "200000", "Basic tee", "T-shirt", "T-shirt in cotton jersey."),
        ("0300000001", "300000", "Missing", "Dress", "No image for this one."),
    ]:
        rows.append(
            {
                "image": f"images/{article}.jpg",
                "article_id": article,
                "product_code": product,
                "prod_name": name,
                **dict.fromkeys(HM_COLUMNS, ""),
                "product_type_name": ptype,
                "colour_group_name": "Black",
                "detail_desc": desc,
            }
        )
        if name != "Missing":
            write_image(root / rows[-1]["image"])
    return write_csv(root / "items.csv", rows).parent


def build_mango(root: Path) -> Path:
    rows = []
    for code, colour, ptype in [
        ("41085800-02", "NEGRO", "Trousers"),
        ("41085800-TO", "OFFWHITE", "Trousers"),
        ("53000586-01", "ROJO", "Dress"),
    ]:
        rows.append(
            {
                "image": f"images/{code}.jpg",
                "cod_modelo_color": code,
                "des_color_specification_esp": colour,
                "des_agrup_color_eng": "GREY",
                "des_sex": "Female",
                "des_age": "Adult",
                "des_line": "SHE",
                "des_fabric": "P-PLANA",
                "des_product_category": "Bottoms",
                "des_product_aggregated_family": ptype,
                "des_product_family": ptype,
                "des_product_type": ptype,
            }
        )
        write_image(root / rows[-1]["image"])
    write_csv(
        root / "outfits.csv",
        [
            {"outfit_id": "1", "item_id": "41085800-02"},
            {"outfit_id": "1", "item_id": "53000586-01"},
            {"outfit_id": "2", "item_id": "41085800-TO"},
        ],
    )
    return write_csv(root / "items.csv", rows).parent


def build_clothing(root: Path) -> Path:
    rows = [
        {"image": f"images/{stem}.jpg", "label": label, "kids": "False"}
        for stem, label in [("aaa-1", "T-Shirt"), ("bbb-2", "Pants"), ("ccc-3", "Not sure")]
    ]
    for row in rows:
        write_image(root / row["image"])
    return write_csv(root / "items.csv", rows).parent


def build_polyvore(root: Path, nested: bool = True) -> Path:
    def outfit(set_id: str, *items: str) -> dict[str, object]:
        return {"set_id": set_id, "items": [{"item_id": it, "index": i + 1} for i, it in enumerate(items)]}

    outfits = {
        "train": [outfit("s1", "10", "11")],
        "valid": [outfit("s2", "10", "12")],
        "test": [outfit("s3", "13")],
    }
    outfits["train"][0]["items"].reverse()  # listed out of order: outfits() sorts by index
    for split, data in outfits.items():
        write_json(root / ("nondisjoint" if nested else "") / f"{split}.json", data)
    write_json(
        root / "polyvore_item_metadata.json",
        {
            "10": {"semantic_category": "tops", "title": "striped tee", "url_name": "striped tee"},
            "11": {"semantic_category": "shoes", "title": "", "url_name": "leather boots"},
            "12": {"semantic_category": "all-body", "title": "maxi dress"},
            "13": {"semantic_category": "bottoms", "title": "jeans"},
        },
    )
    for item in ("10", "11", "12"):  # 13 has no image
        write_image(root / "images" / f"{item}.jpg")
    return root


def build_fashioniq(root: Path) -> Path:
    write_json(
        root / "captions" / "cap.dress.train.json",
        [
            {"candidate": "B001", "target": "B002", "captions": ["is red", "has no sleeves"]},
            {
                "candidate": "B002",
                "target": "B009",
                "captions": ["is longer", "is blue"],
            },  # B009 has no image
        ],
    )
    write_json(
        root / "captions" / "cap.shirt.val.json",
        [
            {"candidate": "S001", "target": "S002", "captions": ["has a collar", "is darker"]},
        ],
    )
    write_json(root / "image_splits" / "split.toptee.train.json", ["T001"])
    for asin in ("B001", "S001", "T001"):
        write_image(root / "images" / f"{asin}.jpg")
    for asin in ("B002", "S002"):
        write_image(root / "images" / f"{asin}.png")
    return root


def build_deepfashion(root: Path) -> Path:
    anno = root / "Anno"
    anno.mkdir(parents=True)
    (anno / "list_category_cloth.txt").write_text(
        "3\ncategory_name  category_type\nBlouse                       1\nJeans                        2\n"
        "Blazer                       1\n"
    )
    (anno / "list_attr_cloth.txt").write_text(
        "3\nattribute_name  attribute_type\nfloral                       1\nabstract print               1\n"
        "a-line                       3\n"
    )
    names = [
        "img/Sheer_Blouse/img_00000001.jpg",
        "img/Sheer_Blouse/img_00000002.jpg",
        "img/Skinny_Jeans/img_00000001.jpg",
        "img/Wool_Blazer/img_00000001.jpg",
    ]

    def listing(path: Path, header: str, values: list[str]) -> None:
        rows = "".join(f"{n}   {v}\n" for n, v in zip(names, values, strict=True))
        path.write_text(f"{len(names)}\n{header}\n{rows}")

    listing(anno / "list_category_img.txt", "image_name  category_label", ["1", "1", "2", "3"])
    listing(
        anno / "list_attr_img.txt", "image_name  attribute_labels", ["1 -1 -1", "-1 1 1", "-1 -1 -1", "0 0 0"]
    )
    (root / "Eval").mkdir()
    listing(
        root / "Eval" / "list_eval_partition.txt",
        "image_name  evaluation_status",
        ["train", "train", "val", "test"],
    )
    for name in names[:3]:  # the blazer has no image
        write_image(root / name)
    return root


def build_coco(root: Path) -> Path:
    write_json(
        root / "instances_attributes_val2020.json",
        {
            "images": [
                {"id": 1, "file_name": "a.jpg", "width": 8, "height": 8},
                {"id": 2, "file_name": "b.jpg", "width": 8, "height": 8},
                {"id": 3, "file_name": "missing.jpg", "width": 8, "height": 8},
            ],
            "annotations": [
                {
                    "id": 1,
                    "image_id": 1,
                    "category_id": 10,
                    "attribute_ids": [100, 101],
                    "bbox": [0, 0, 4, 4],
                },
                {"id": 2, "image_id": 1, "category_id": 30, "attribute_ids": [], "bbox": [0, 0, 1, 1]},
                {"id": 3, "image_id": 2, "category_id": 10, "attribute_ids": [100], "bbox": [0, 0, 4, 4]},
                {"id": 4, "image_id": 2, "category_id": 20, "attribute_ids": [], "bbox": [0, 4, 4, 4]},
            ],
            "categories": [
                {"id": 10, "name": "shirt, blouse", "supercategory": "upperbody"},
                {"id": 20, "name": "pants", "supercategory": "lowerbody"},
                {"id": 30, "name": "pocket", "supercategory": "garment parts"},
            ],
            "attributes": [
                {"id": 100, "name": "floral", "supercategory": "textile pattern"},
                {"id": 101, "name": "short (length)", "supercategory": "length"},
            ],
        },
    )
    write_image(root / "images" / "a.jpg")
    write_image(root / "images" / "b.jpg")
    return root


def build_teacher(root: Path) -> Path:
    """What ``vestis extract DIR --confidence --out labels.jsonl`` writes: one photo, an item of two
    photos, and a failed line."""
    write_image(root / "shop" / "a.jpg")
    write_image(root / "shop" / "b" / "front.jpg")
    write_image(root / "shop" / "b" / "back.jpg")
    lines = [
        {
            "image": "shop/a.jpg",
            "attributes": {"category": "top", "colour": "red"},
            "confidence": {"colour": 0.9},
        },
        {
            "item": ["shop/b/front.jpg", "shop/b/back.jpg"],
            "attributes": {"category": "bottom", "colour": None},
            "confidence": {"category": 0.4, "colour": 0.0},
        },
        {"image": "shop/c.jpg", "attributes": {"category": None}, "error": "shop/c.jpg: not_found"},
    ]
    path = root / "labels.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


STREET_LABELS = ("null", "skin", "hair", "t-shirt", "jeans", "shoes", "blouse", "vest")


def build_street(root: Path) -> Path:
    """Two 40 × 60 photos of a figure with a label map each (names from street/'s labels.txt).

    ``a``: a red t-shirt (rows 8–24), blue jeans (25–49), black shoes (51–57) on skin-coloured arms.
    ``b``: a top painted half blouse, half t-shirt in red and white stripes (rows 8–24), and a vest
    (rows 30–45).
    """
    import numpy as np

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(f"{i}\t{n}\n" for i, n in enumerate(STREET_LABELS)))
    idx = {n: i for i, n in enumerate(STREET_LABELS)}
    a_img = np.full((60, 40, 3), 235, np.uint8)
    a_map = np.zeros((60, 40), np.uint8)
    for rows, cols, label, colour in (
        ((8, 25), (4, 8), "skin", (224, 172, 138)),
        ((8, 25), (10, 30), "t-shirt", (200, 25, 35)),
        ((25, 50), (12, 28), "jeans", (30, 90, 200)),
        ((51, 58), (12, 28), "shoes", (10, 10, 10)),
    ):
        a_img[rows[0] : rows[1], cols[0] : cols[1]] = colour
        a_map[rows[0] : rows[1], cols[0] : cols[1]] = idx[label]
    b_img = np.full((60, 40, 3), 235, np.uint8)
    b_map = np.zeros((60, 40), np.uint8)
    b_map[8:25, 10:20], b_map[8:25, 20:30] = idx["blouse"], idx["t-shirt"]
    b_img[8:25, 10:30] = (200, 25, 35)
    b_img[8:25:2, 10:30] = (250, 250, 250)
    b_map[30:46, 10:30] = idx["vest"]
    b_img[30:46, 10:30] = (120, 120, 120)
    for name, img, cmap in (("a", a_img, a_map), ("b", b_img, b_map)):
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        Image.fromarray(cmap).save(root / "masks" / f"{name}.png")
    rows = [
        {"image": "images/a.png", "mask": "masks/a.png", "tags": "t-shirt;jeans;shoes"},
        {"image": "images/b.png", "mask": "masks/b.png", "tags": "blouse;t-shirt;vest"},
        {"image": "images/c.png", "mask": "", "tags": "shoes"},
    ]
    write_image(root / "images" / "c.png")
    return write_csv(root / "items.csv", rows).parent


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "folder": build_folder,
    "table": build_table,
    "hm": build_hm,
    "mango": build_mango,
    "clothing": build_clothing,
    "polyvore": build_polyvore,
    "fashioniq": build_fashioniq,
    "deepfashion": build_deepfashion,
    "coco": build_coco,
    "teacher": build_teacher,
    "street-garments": build_street,
}


@pytest.fixture
def build(tmp_path: Path) -> Callable[[str], Path]:
    """``build(kind)`` writes a tiny dataset of that kind and returns the path to open."""
    return lambda kind: BUILDERS[kind](tmp_path / kind)


@pytest.fixture(name="write_image")
def write_image_fixture() -> Callable[..., Path]:
    return write_image


@pytest.fixture(name="write_csv")
def write_csv_fixture() -> Callable[..., Path]:
    return write_csv


@pytest.fixture
def builders() -> dict[str, Callable[[Path], Path]]:
    return BUILDERS
