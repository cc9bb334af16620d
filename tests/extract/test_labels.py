"""Label reading: size systems, brand lexicon and fallback, OCR on rendered labels, the lite backend."""

from __future__ import annotations

import pytest
from PIL import Image

from vestis.extract.labels import Line, read_brand, read_size


@pytest.mark.parametrize(
    ("lines", "size"),
    [
        (["W32 L34"], "W32 L34"),
        (["W32L34", "100%COTTON"], "W32 L34"),
        (["30L32"], "W30 L32"),  # OCR dropped the W
        (["EU42"], "EU 42"),
        (["GB 10"], "UK 10"),
        (["US 8.5"], "US 8.5"),
        (["SIZE M"], "M"),
        (["TALLAL"], "L"),
        (["XXL"], "XXL"),
        (["M/38"], "M"),
        (["32/34"], "W32 L34"),
        (["ONE SIZE"], "one size"),
        (["MADE IN ITALY", "100% WOOL"], None),
        (["MAMMA MIA"], None),  # letters inside words are not sizes
    ],
)
def test_sizes_are_read_in_every_system(lines, size):
    assert read_size(lines)[0] == size


def test_brands_match_the_lexicon_through_ocr_slips():
    assert read_brand([Line("LEVIS", 0.9, 30)])[0] == "Levi's"
    assert read_brand([Line("ZARA", 0.9, 30), Line("EU 38", 0.9, 12)])[0] == "Zara"
    assert read_brand([Line("TOMMYHILFIGER", 0.9, 30)])[0] == "Tommy Hilfiger"
    assert read_brand([Line("SUPERDRY", 0.9, 30)])[0] == "Superdry"  # "DRY" is also care text
    assert read_brand([Line("FOREVER21", 0.9, 30)])[0] == "Forever 21"


def test_unknown_brands_come_from_the_label_line_with_the_largest_letters_only_on_labels():
    label = [Line("Nordvik", 0.95, 32), Line("SIZE M", 0.9, 14), Line("100% COTTON", 0.9, 14)]
    brand, conf = read_brand(label)
    assert brand == "Nordvik" and conf < read_brand([Line("ZARA", 0.95, 30)])[1]
    assert read_brand([Line("GOOD VIBES", 0.95, 40)]) == (None, 0.0)  # a print on a tee, not a label
    assert read_brand([Line("MADEINPORTUGAL", 0.95, 40), Line("SIZE M", 0.9, 14)]) == (None, 0.0)


@pytest.fixture(scope="module")
def reader():
    pytest.importorskip("rapidocr_onnxruntime")
    from vestis.extract.labels import LabelReader

    return LabelReader()


def test_ocr_reads_brand_and_size_off_a_rendered_label(reader):
    from vestis.data.synthetic_labels import render_label

    label = next(lab for s in range(20) if not (lab := render_label(s)).hard and lab.in_lexicon)
    lines = reader.read(label.image)
    assert read_brand(lines)[0] == label.brand and read_size(lines)[0] == label.size
    assert reader.read(Image.new("RGB", (120, 120), (90, 90, 90))) == []


def test_lite_fills_brand_and_size_when_the_schema_has_those_roles(reader, tiny_lite):
    from vestis.data.synthetic_labels import render_label
    from vestis.extract.base import load_extractor

    label = next(lab for s in range(20) if not (lab := render_label(s)).hard and lab.in_lexicon)
    denali = load_extractor("lite", "denali", model=str(tiny_lite))
    result = denali.extract(label.image)
    assert result.attributes["brand"] == label.brand and result.attributes["size"] == label.size
    assert result.confidence["brand"] >= 0.5
    assert (
        load_extractor("lite", "denali", model=str(tiny_lite), labels="off")
        .extract(label.image)
        .attributes["brand"]
        is None
    )
    assert load_extractor("lite", "vestis", model=str(tiny_lite)).labels is None  # nothing to fill


def test_labels_option_is_checked(tiny_lite):
    from vestis.errors import OptionsError
    from vestis.extract.base import load_extractor

    with pytest.raises(OptionsError, match="labels must be"):
        load_extractor("lite", "denali", model=str(tiny_lite), labels="sometimes")
