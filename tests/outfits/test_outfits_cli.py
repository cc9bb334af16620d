"""``vestis outfits score|complete|complement``, ``vestis eval outfits`` and ``vestis train outfits``
end to end on drawn images with the tiny random vestis-lite model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.helpers import COLOURS, draw_item
from vestis.cli.main import main
from vestis.outfits.complete import MAIN_SLOTS, missing_slots, mmr, resolve_slot
from vestis.schema import load_schema

PRODUCT = {"top": "T-Shirt", "bottom": "Trousers", "footwear": "Shoes"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A mango-format folder: 18 outfits (top + trousers + shoes; a pair of shoes in three outfits)."""
    root = tmp_path_factory.mktemp("mango")
    colours = list(COLOURS)
    items, outfits = [], []
    for n in range(18):
        shoe = f"shoe-{n // 3}"
        for item, category, colour in (
            (f"top-{n}", "top", colours[n % 6]),
            (f"bottom-{n}", "bottom", colours[(n + 2) % 6]),
            (shoe, "footwear", colours[(n // 3) % 6]),
        ):
            if not any(row["cod_modelo_color"] == item for row in items):
                draw_item(root / "images" / f"{item}.jpg", colour, category, size=64 + 2 * n)
                items.append(
                    {
                        "image": f"images/{item}.jpg",
                        "cod_modelo_color": item,
                        "des_product_type": PRODUCT[category],
                    }
                )
            outfits.append({"outfit_id": str(n), "item_id": item})
    for name, rows in (("items.csv", items), ("outfits.csv", outfits)):
        with open(root / name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def catalog(shop, tiny_lite, tmp_path_factory):
    directory = tmp_path_factory.mktemp("catalog")
    args = ["ingest", str(shop / "images"), "--catalog", str(directory), "--model", str(tiny_lite)]
    assert main([*args, "--index", "exact", "--json"]) == 0
    return directory


def run_json(capsys, *args: str):
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def categories(catalog, capsys) -> dict[int, str]:
    from vestis.catalog.catalog import Catalog

    cat = Catalog.open(catalog)
    return {it.id: it.attributes.get("category") for it in cat.store.get(cat.store.ids())}


def test_score_names_the_weakest_pair(catalog, capsys):
    out = run_json(capsys, "outfits", "score", "1", "2", "3", "--catalog", str(catalog), "--json")
    assert out["scorer"] == "cooccurrence" and isinstance(out["score"], float)
    a, b, value = out["weakest_pair"]
    assert {a, b} <= {1, 2, 3} and a != b and value <= out["score"] + 1e-9
    assert main(["outfits", "score", "1", "2", "--catalog", str(catalog)]) == 0
    assert "weakest pair" in capsys.readouterr().out
    assert main(["outfits", "score", "1", "9999", "--catalog", str(catalog)]) == 2
    assert main(["outfits", "score", "1", "--catalog", str(catalog)]) == 2


def test_complete_fills_slots_with_filtered_varied_items(catalog, capsys):
    cats = categories(catalog, capsys)
    known = [c for c in cats.values() if c]
    slot = max(set(known), key=known.count)
    outfit = [i for i in cats if cats[i] != slot][:2]
    args = ["outfits", "complete", *map(str, outfit), "--catalog", str(catalog), "--slots", slot, "--k", "3"]
    out = run_json(capsys, *args, "--json")
    picks = out[slot]["suggestions"]
    assert len(picks) == min(3, list(cats.values()).count(slot))
    assert all(p["attributes"]["category"] == slot and p["id"] not in outfit for p in picks)
    assert len({p["id"] for p in picks}) == len(picks)
    colour = picks[0]["attributes"].get("colour")
    if colour:
        filtered = run_json(capsys, *args, "--where", f"colour != {colour}", "--json")[slot]
        assert all(p["attributes"].get("colour") != colour for p in filtered["suggestions"])
    default = run_json(capsys, "outfits", "complete", *map(str, outfit), "--catalog", str(catalog), "--json")
    assert set(default) == set(missing_slots(cats[i] for i in outfit))
    assert main(["outfits", "complete", "1", "--catalog", str(catalog), "--slots", "spaceship"]) == 2


def test_complement_suggests_other_categories(catalog, capsys):
    cats = categories(catalog, capsys)
    out = run_json(capsys, "outfits", "complement", "1", "--catalog", str(catalog), "--k", "2", "--json")
    assert cats[1] not in out
    for slot, picks in out.items():
        assert slot in MAIN_SLOTS and len(picks["suggestions"]) <= 2
        assert all(p["attributes"]["category"] == slot for p in picks["suggestions"])
    assert main(["outfits", "complement", "1", "--catalog", str(catalog)]) == 0


def test_eval_and_train_outfits_then_score_with_the_trained_model(shop, catalog, tiny_lite, tmp_path, capsys):
    out = tmp_path / "eval"
    cache = str(tmp_path / "cache")
    args = ["eval", "outfits", "--dataset", f"mango:{shop}", "--out", str(out), "--model", str(tiny_lite)]
    assert main([*args, "--scorer", "cooccurrence", "--split", "all", "--cache", cache]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["auc"] <= 1 and metrics["outfits"] == 18 and metrics["fitb_questions"] > 0
    assert "recall@10" in metrics and "Fill in the blank" in (out / "report.html").read_text()
    assert (
        main(
            [*args, "--scorer", "cooccurrence", "--split", "all", "--cache", cache, "-n", "5", "--no-recall"]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["outfits"] == 5 and "recall@10" not in metrics
    train = [
        "train", "outfits", "--set", f"dataset=mango:{shop}", "--set", f"model={tiny_lite}",
        "--set", "scorer=type-aware", "--set", "scorer_options={hidden: 8, dim: 8}", "--set", "epochs=2",
        "--set", "val_fraction=0.3", "--set", "threads=1",
        "--set", f"out_dir={tmp_path / 'run'}", "--set", f"cache_dir={cache}",
    ]  # fmt: skip
    assert main(train) == 0
    model = tmp_path / "run" / "model"
    assert (model / "model.safetensors").is_file()
    scored = run_json(
        capsys, "outfits", "score", "1", "2", "--catalog", str(catalog), "--scorer", str(model), "--json"
    )
    assert scored["scorer"] == "type-aware"
    config = json.loads((model / "config.json").read_text())
    config["embedding_model"] = "vestis-lite@another"
    (model / "config.json").write_text(json.dumps(config))
    assert main(["outfits", "score", "1", "2", "--catalog", str(catalog), "--scorer", str(model)]) == 2


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft touches a deprecated transformers property
def test_train_outfits_llm_then_score_with_the_adapter(shop, catalog, tiny_lite, tmp_path, capsys):
    pytest.importorskip("peft")
    train = [
        "train", "outfits-llm", "--set", f"dataset=mango:{shop}", "--set", f"model={tiny_lite}",
        "--set", "llm=test-tiny", "--set", "epochs=1", "--set", "batch_size=4", "--set", "lora_layers=0",
        "--set", "val_fraction=0.3", "--set", "threads=1", "--set", "eval_outfits=0",
        "--set", f"out_dir={tmp_path / 'llm'}", "--set", f"cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    assert main(train) == 0
    model = tmp_path / "llm" / "model"
    assert (model / "adapter_model.safetensors").is_file()
    scored = run_json(
        capsys, "outfits", "score", "1", "2", "--catalog", str(catalog), "--scorer", str(model), "--json"
    )
    assert scored["scorer"] == "llm" and np.isfinite(scored["score"])


def test_slots_and_mmr_helpers():
    schema = load_schema("vestis")
    assert resolve_slot(schema, "Shoes") == ("category", "footwear")
    assert resolve_slot(schema, "sneakers") == ("type", "sneakers")
    with pytest.raises(ValueError, match="unknown slot"):
        resolve_slot(schema, "spaceship")
    assert missing_slots([]) == list(MAIN_SLOTS)
    assert missing_slots(["jumpsuit", "bag"]) == ["outerwear", "footwear", "accessory"]
    assert missing_slots(["bottom"]) == ["top", "outerwear", "footwear", "bag", "accessory"]
    vectors = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    assert mmr(np.array([1.0, 0.9, 0.2]), vectors, 2, diversity=0.0) == [0, 1]
    assert mmr(np.array([1.0, 0.9, 0.2]), vectors, 2, diversity=0.6) == [0, 2]
    assert mmr(np.array([]), np.zeros((0, 2)), 3) == []
