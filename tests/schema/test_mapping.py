"""The mapping engine on generated rows, and contracts every shipped mapping must keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from vestis.schema import load_schema
from vestis.schema.mapping import MAPPINGS_DIR, Mapping, MappingError, list_mappings
from vestis.schema.model import read_structured


def make(fields: dict, schema: str = "vestis") -> Mapping:
    return Mapping.from_dict({"source": "demo", "schema": schema, "fields": fields})


# ---- the engine -----------------------------------------------------------------------------
def test_map_source_and_parent_completion():
    m = make({"type": [{"column": "kind", "map": {"Jeans": "jeans", "Tee": "t_shirt"}}]})
    assert m.apply({"kind": "Jeans"})["type"] == "jeans"
    assert m.apply({"kind": "Jeans"})["category"] == "bottom"  # filled from the type's parent
    assert m.apply({"kind": "Kilt"})["type"] is None


def test_explicit_category_is_kept_over_completion():
    m = make(
        {
            "category": [{"column": "group", "map": {"Outer": "outerwear"}}],
            "type": [{"column": "kind", "map": {"Jeans": "jeans"}}],
        }
    )
    assert m.apply({"group": "Outer", "kind": "Jeans"})["category"] == "outerwear"
    assert m.apply({"group": "Other", "kind": "Jeans"})["category"] == "bottom"


def test_null_words_read_as_missing():
    m = make({"type": [{"column": "kind", "map": {"Jeans": "jeans"}}]})
    for raw in (None, "", "Unknown", "n/a", "Not sure"):
        assert m.apply({"kind": raw})["type"] is None


def test_first_source_wins_for_single_fields():
    m = make(
        {
            "type": [
                {"column": "group", "when": {"kind": "Trousers"}, "map": {"Denim": "jeans"}},
                {"column": "kind", "map": {"Trousers": "trousers"}},
            ]
        }
    )
    assert m.apply({"kind": "Trousers", "group": "Denim"})["type"] == "jeans"
    assert m.apply({"kind": "Trousers", "group": "Chinos"})["type"] == "trousers"


def test_when_restricts_a_source():
    m = make(
        {
            "neckline": [
                {"column": "text", "when": {"group": ["Tops", "Dresses"]}, "keywords": {"hooded": ["hood"]}}
            ]
        }
    )
    assert m.apply({"group": "Tops", "text": "Top with a hood"})["neckline"] == "hooded"
    assert m.apply({"group": "Bags", "text": "Bag with a hood"})["neckline"] is None


def test_multi_fields_unite_sources_without_duplicates():
    m = make(
        {
            "occasion": [
                {"column": "group", "map": {"Swimwear": "beach"}},
                {"column": "index", "map": {"Sport": "sport", "Beach": "beach"}},
            ]
        }
    )
    assert m.apply({"group": "Swimwear", "index": "Sport"})["occasion"] == ["beach", "sport"]
    assert m.apply({"group": "Swimwear", "index": "Beach"})["occasion"] == ["beach"]
    assert m.apply({"group": "Tops", "index": "Ladies"})["occasion"] == []


def test_a_map_value_may_be_a_list_for_multi_fields():
    m = make({"closure": [{"column": "kind", "map": {"Jeans": ["zip", "buttons"]}}]})
    assert m.apply({"kind": "Jeans"})["closure"] == ["zip", "buttons"]


def test_keywords_are_word_bounded_and_case_insensitive():
    m = make({"neckline": [{"column": "text", "keywords": {"hooded": ["hood"]}}]})
    assert m.apply({"text": "Jacket with a lined HOOD."})["neckline"] == "hooded"
    assert m.apply({"text": "A childhood favourite."})["neckline"] is None
    assert m.apply({"text": "Hooded-style top."})["neckline"] is None  # hyphen counts as part of a word


def test_keyword_order_decides_single_fields():
    m = make(
        {
            "material": [
                {
                    "column": "text",
                    "keywords": {"faux_leather": ["imitation leather"], "leather": ["leather"]},
                }
            ]
        }
    )
    assert m.apply({"text": "Boots in imitation leather"})["material"] == "faux_leather"
    assert m.apply({"text": "Boots in leather"})["material"] == "leather"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"type": [{"column": "kind", "map": {"Jeans": "jeggings"}}]}, "'jeggings' is not a value"),
        ({"colour_name": [{"column": "c", "map": {"Red": "red"}}]}, "not in schema"),
        ({"type": [{"map": {"Jeans": "jeans"}}]}, "needs a 'column'"),
        ({"type": [{"column": "k", "map": {"J": "jeans"}, "keywords": {"jeans": ["jeans"]}}]}, "not both"),
        ({"material": [{"column": "t", "keywords": {"tweed": ["tweed"]}}]}, "'tweed' is not a value"),
    ],
)
def test_malformed_mappings_are_refused(fields, message):
    with pytest.raises(MappingError, match=message):
        make(fields)


def test_unknown_shipped_source_names_what_is_shipped():
    with pytest.raises(MappingError, match=r"shipped: .*hm__vestis"):
        Mapping.load("no_such_source")


def test_a_source_name_resolves_to_the_shipped_file():
    assert Mapping.load("hm").source == "hm"
    assert Mapping.load("hm", schema=load_schema("denali")).schema.name == "denali"


# ---- every shipped mapping ------------------------------------------------------------------
@pytest.mark.parametrize("name", list_mappings())
def test_shipped_mapping_parses_against_its_schema(name):
    path = MAPPINGS_DIR / f"{name}.yaml"
    data = read_structured(path)
    source, schema = name.split("__")
    assert (data["source"], data["schema"]) == (source, schema), "file name must be {source}__{schema}.yaml"
    mapping = Mapping.load(path)
    assert mapping.schema.name == schema
    assert mapping.fields, "a mapping maps at least one field"


@pytest.mark.parametrize("name", list_mappings())
def test_shipped_mapping_ignores_nothing_it_also_maps(name):
    mapping = Mapping.load(MAPPINGS_DIR / f"{name}.yaml")
    for fname, sources in mapping.fields.items():
        for src in sources:
            assert not (set(src.map) & src.ignore), f"{fname}/{src.column}: both mapped and ignored"


@pytest.mark.parametrize("name", list_mappings())
def test_shipped_category_agrees_with_the_type_parent(name):
    """Any raw type label, mapped on its own, yields the category its vestis type implies."""
    mapping = Mapping.load(MAPPINGS_DIR / f"{name}.yaml")
    fields = mapping.schema.fields.values()
    type_field = next((f for f in fields if f.parent and f.name in mapping.fields), None)
    if type_field is None or type_field.parent not in mapping.fields:
        pytest.skip("maps no parented field together with its parent")
    for src in mapping.fields[type_field.name]:
        for raw in src.map:
            row = {col: next(iter(allowed)) for col, allowed in src.when.items()} | {src.column: raw}
            labels = mapping.apply(row)
            expected = type_field.values[labels[type_field.name]].parent
            assert labels[type_field.parent] == expected, f"{src.column}={raw!r}"


# ---- judgement calls in the shipped mappings, on hand-made rows ------------------------------
def hm_row(**overrides: str) -> dict[str, str]:
    row = dict(
        product_type_name="T-shirt",
        product_group_name="Garment Upper body",
        graphical_appearance_name="Solid",
        colour_group_name="Black",
        index_name="Ladieswear",
        index_group_name="Ladieswear",
        section_name="Womens Everyday Collection",
        garment_group_name="Jersey Basic",
        detail_desc="",
    )
    return row | overrides


def test_hm_denim_trousers_are_solid_denim_jeans_in_navy():
    m = Mapping.load("hm")
    labels = m.apply(
        hm_row(
            product_type_name="Trousers",
            product_group_name="Garment Lower body",
            graphical_appearance_name="Denim",
            colour_group_name="Dark Blue",
            garment_group_name="Trousers Denim",
            detail_desc="5-pocket jeans in washed denim with a zip fly and button and skinny legs.",
        )
    )
    assert (labels["type"], labels["category"]) == ("jeans", "bottom")
    assert (labels["pattern"], labels["material"], labels["colour"]) == ("solid", "denim", "navy")
    assert labels["closure"] == ["buttons", "zip"]
    assert labels["fit"] == "skinny"
    assert (labels["gender"], labels["age_group"]) == ("women", "adult")


def test_hm_material_comes_from_the_main_fabric_not_a_trim():
    m = Mapping.load("hm")
    desc = "Shoulder bag in soft suede with imitation leather details and a zip at the top."
    labels = m.apply(
        hm_row(
            product_type_name="Bag",
            product_group_name="Accessories",
            garment_group_name="Accessories",
            detail_desc=desc,
        )
    )
    assert labels["material"] == "leather"
    assert labels["category"] == "bag"


def test_hm_pocket_zips_and_drawstring_hoods_are_not_closures():
    m = Mapping.load("hm")
    desc = (
        "Top in sweatshirt fabric with a lined drawstring hood, a zip pocket, zipped chest pocket "
        "and long sleeves. Childhood favourite."
    )
    labels = m.apply(hm_row(product_type_name="Hoodie", detail_desc=desc))
    assert labels["closure"] == []
    assert (labels["neckline"], labels["sleeve_length"], labels["material"]) == ("hooded", "long", "jersey")


def test_hm_sport_swim_and_children():
    m = Mapping.load("hm")
    sport = m.apply(hm_row(index_name="Sport", index_group_name="Sport", section_name="Men H&M Sport"))
    assert (sport["occasion"], sport["style"], sport["gender"]) == (["sport"], ["sporty"], "men")
    swim = m.apply(hm_row(product_type_name="Bikini top", product_group_name="Swimwear"))
    assert (swim["category"], swim["occasion"]) == ("swimwear", ["beach"])
    baby = m.apply(
        hm_row(index_name="Baby Sizes 50-98", index_group_name="Baby/Children", section_name="Baby Girl")
    )
    assert (baby["age_group"], baby["gender"]) == ("baby", "women")


def mango_row(**overrides: str) -> dict[str, str]:
    row = dict(
        des_color_specification_esp="NEGRO",
        des_agrup_color_eng="GREY",
        des_sex="Female",
        des_age="Adult",
        des_fabric="K-CIRCULAR",
        des_product_category="Tops",
        des_product_aggregated_family="T-shirts",
        des_product_family="T-shirt",
        des_product_type="T-Shirt",
    )
    return row | overrides


@pytest.mark.parametrize(
    "fine, colour",
    [
        ("NEGRO", "black"),
        ("TEJANO NEGRO", "black"),
        ("CRUDO", "white"),
        ("CAMEL", "beige"),
        ("KHAKI", "khaki"),
        ("CARAMELO", "brown"),
        ("MARINO", "navy"),
        ("ORO", "gold"),
    ],
)
def test_mango_colour_comes_from_the_fine_colour(fine, colour):
    assert Mapping.load("mango").apply(mango_row(des_color_specification_esp=fine))["colour"] == colour


def test_mango_fabric_and_accessories():
    m = Mapping.load("mango")
    assert m.apply(mango_row())["material"] == "jersey"
    bag = m.apply(
        mango_row(
            des_fabric="C-COMPLEMENTOS",
            des_product_category="Accesories, Swim and Intimate",
            des_product_family="Bags",
            des_product_type="Handbag",
        )
    )
    assert (bag["material"], bag["type"], bag["category"]) == (None, "handbag", "bag")
    shoes = m.apply(
        mango_row(des_fabric="C-COMPLEMENTOS", des_product_family="Footwear", des_product_type="Shoes")
    )
    assert (shoes["type"], shoes["category"]) == (None, "footwear")


@pytest.mark.parametrize(
    "label, type_, sleeves",
    [
        ("Longsleeve", "t_shirt", "long"),
        ("T-Shirt", "t_shirt", "short"),
        ("Pants", "trousers", None),
        ("Outwear", None, None),
    ],
)
def test_clothing_labels(label, type_, sleeves):
    labels = Mapping.load("clothing").apply({"label": label, "kids": "False"})
    assert (labels["type"], labels["sleeve_length"], labels["age_group"]) == (type_, sleeves, "adult")
    assert labels["category"] is not None


def test_clothing_florence_category():
    m = Mapping.load(Path(MAPPINGS_DIR / "clothing__florence.yaml"))
    assert m.apply({"label": "Hoodie"})["category"] == "top"
    assert m.apply({"label": "Shoes"})["category"] == "shoes"
