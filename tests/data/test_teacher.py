"""Teacher labels: a backend's ``vestis extract --out`` JSONL becomes a training set (confidence-filtered)."""

from __future__ import annotations

import json

import pytest

from tests.data.conftest import build_teacher
from tests.helpers import draw_item
from vestis.cli.main import main
from vestis.data import DatasetError, open_dataset
from vestis.schema import load_schema

SHOP = """
name: shop
roles: {primary_colour: colour}
fields:
  category: {values: [top, bottom, footwear]}
  colour: {values: [red, navy, white, black, green, yellow]}
"""


def test_values_become_labels_nulls_and_failures_do_not(tmp_path):
    ds = open_dataset(f"teacher:{build_teacher(tmp_path)}")
    a, b = ds.examples()
    assert a.labels == {"category": "top", "colour": "red"}
    assert b.labels == {"category": "bottom"}  # the teacher's null is unknown, not a label
    assert b.image.endswith("front.jpg") and [p.rsplit("/", 1)[-1] for p in b.meta["photos"]] == [
        "front.jpg",
        "back.jpg",
    ]
    assert len(ds.problems) == 1 and "the teacher failed" in ds.problems[0]


def test_min_confidence_leaves_unsure_values_unknown(tmp_path):
    path = build_teacher(tmp_path)
    a, b = open_dataset(f"teacher:{path}?min_confidence=0.5").examples()
    assert a.labels == {"colour": "red"}  # category had no confidence: unsure
    assert b.labels == {}
    assert open_dataset(f"teacher:{path}?min_confidence=0.4").examples()[1].labels == {"category": "bottom"}


def test_bad_options_and_files_say_what_is_wrong(tmp_path):
    path = build_teacher(tmp_path)
    with pytest.raises(DatasetError, match="min_confidence must be a number"):
        open_dataset(f"teacher:{path}?min_confidence=high")
    with pytest.raises(DatasetError, match=r"min_confidence must be in \[0, 1\]"):
        open_dataset(f"teacher:{path}?min_confidence=2")
    with pytest.raises(DatasetError, match="unknown options"):
        open_dataset(f"teacher:{path}?confidence=0.5")
    bare = tmp_path / "bare.jsonl"
    bare.write_text(
        json.dumps({"image": str(tmp_path / "shop" / "a.jpg"), "attributes": {"colour": "red"}}) + "\n"
    )
    assert open_dataset(f"teacher:{bare}").examples()[0].labels == {"colour": "red"}
    with pytest.raises(DatasetError, match="--confidence"):
        open_dataset(f"teacher:{bare}?min_confidence=0.5").examples()
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"path": "a.jpg", "label": "top"}) + "\n")
    with pytest.raises(DatasetError, match="not vestis extract output"):
        open_dataset(f"teacher:{other}").examples()


def test_extract_output_is_a_training_set_for_lora_sft(tmp_path):
    from vestis.train.vlm_tuning import tune_examples

    shop = tmp_path / "shop"
    for colour, category in [("red", "top"), ("navy", "bottom"), ("white", "footwear")]:
        draw_item(shop / f"{colour}.jpg", colour, category)
    schema_path = tmp_path / "shop.yaml"
    schema_path.write_text(SHOP)
    labels = tmp_path / "labels.jsonl"
    argv = ["extract", str(shop), "--backend", "pixel-colour", "--schema", str(schema_path), "--confidence"]
    assert main([*argv, "--out", str(labels)]) == 0
    lines = [json.loads(line) for line in labels.read_text().splitlines()]
    schema = load_schema(str(schema_path))
    ds = open_dataset(f"teacher:{labels}?min_confidence=0.3", schema=schema)
    for ex, line in zip(ds.examples(), lines, strict=True):
        assert ex.labels == (
            {"colour": line["attributes"]["colour"]} if line["confidence"]["colour"] >= 0.3 else {}
        )
    examples, skipped = tune_examples(ds.examples(), schema, "unknown")
    assert len(examples) + skipped["no_known_field"] == 3 and examples
    for ex in examples:
        assert ex.answer == f'{{"category":null,"colour":"{ex.known["colour"]}"}}'


def test_teacher_rows_keep_own_labels_and_fill_the_rest(tmp_path):
    from tests.data.conftest import write_image
    from vestis.data.adapters.teacher import teacher_rows
    from vestis.data.example import Example
    from vestis.extract.base import Extractor

    (tmp_path / "shop.yaml").write_text(SHOP)
    schema = load_schema(str(tmp_path / "shop.yaml"))

    class ByPixel(Extractor):
        """Red photos: a red top at 0.9/0.7; others: a navy bottom at 0.3/0.4."""

        name = "by-pixel"

        def _extract_batch(self, images):
            out = []
            for im in images:
                red = im.getpixel((0, 0))[0] > 128
                attrs = (
                    {"category": "top", "colour": "red"} if red else {"category": "bottom", "colour": "navy"}
                )
                out.append(
                    self.from_raw(
                        attrs, {"category": 0.9, "colour": 0.7} if red else {"category": 0.3, "colour": 0.4}
                    )
                )
            return out

        def unreliable_on_worn(self):
            return {"colour": "no signal on worn garments"}

    red, blue = (
        write_image(tmp_path / "red.png", color="red"),
        write_image(tmp_path / "blue.png", color="blue"),
    )
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    examples = [
        Example(id="a", image=str(red), labels={"category": "footwear"}),  # own label beats the teacher's
        Example(id="b", image=str(blue), labels={"colour": None}),  # an unknown own label: the teacher's
        Example(id="c", image=str(broken), labels={"category": "top"}),
    ]
    rows = teacher_rows(examples, ByPixel(schema))
    assert rows[0]["attributes"] == {"category": "footwear", "colour": "red"}
    assert rows[0]["confidence"] == {"category": 1.0, "colour": 0.7}
    assert rows[1]["attributes"] == {"category": "bottom", "colour": "navy"}
    assert rows[1]["confidence"] == {"category": 0.3, "colour": 0.4}
    assert rows[2]["error"] and "confidence" not in rows[2]
    worn = teacher_rows(examples[:2], ByPixel(schema), worn=True)
    assert (
        worn[0]["attributes"] == {"category": "footwear", "colour": None}
        and "colour" not in worn[0]["confidence"]
    )

    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = open_dataset(f"teacher:{path}?min_confidence=0.5", schema=schema)
    assert [ex.labels for ex in ds.examples()] == [{"category": "footwear", "colour": "red"}, {}]
    assert len(ds.problems) == 1 and "the teacher failed" in ds.problems[0]
