from __future__ import annotations

import csv
import json

import pytest

from tests.helpers import draw_item
from vestis.cli.main import main

ROWS = [
    ("red", "top", "Tee"),
    ("navy", "bottom", "Chino"),
    ("red", "top", "Tee"),
    ("navy", "top", "Tee"),
    ("black", "footwear", "Boot"),
    ("red", "bottom", "Skort"),
] * 3


@pytest.fixture
def table(tmp_path):
    folder = tmp_path / "shop"
    with _open(folder / "items.csv") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "sku", "kind", "shade"])
        for i, (colour, category, kind) in enumerate(ROWS):
            draw_item(folder / f"img{i}.jpg", colour, category)
            writer.writerow([f"img{i}.jpg", f"sku{i}", kind, colour.upper()])
    mapping = tmp_path / "shop__vestis.yaml"
    mapping.write_text(
        "source: shop\nschema: vestis\nfields:\n"
        "  type:\n    - column: kind\n      map: {Tee: t_shirt, Chino: trousers, Boot: boots}\n"
        "  colour:\n    - column: shade\n      map: {RED: red, NAVY: navy, BLACK: black}\n"
    )
    return f"table:{folder / 'items.csv'}?id=sku&mapping={mapping}"


def _open(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", newline="")


def test_data_audit_names_unmapped_labels_and_writes_files(table, tmp_path, capsys):
    out = tmp_path / "audit"
    code = main(["data", "audit", "-d", table, "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1  # a raw label the mapping forgot is a problem to fix
    assert "Skort" in printed
    audit = json.loads((out / "audit.json").read_text())
    assert "Skort" in json.dumps(audit)
    assert (out / "audit.md").is_file()


def test_data_stats_json(table, capsys):
    assert main(["data", "stats", "--dataset", table, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["examples"] == len(ROWS)
    assert stats["train"] + stats["val"] == len(ROWS)
    assert stats["fields"]["category"]["labelled"] == len(ROWS) - 3  # the Skorts have no type, so no category


def test_eval_extract_writes_metrics_predictions_report(table, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "extract", "-d", table, "-b", "majority", "-o", str(out), "--split", "all"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "majority" and metrics["valid_json"]["strict"] == 1.0
    assert len((out / "predictions.jsonl").read_text().splitlines()) == len(ROWS)
    assert "<html" in (out / "report.html").read_text().lower()
    assert "weighted field score" in capsys.readouterr().out


def test_missing_dataset_and_bad_mapping_are_clear_errors(tmp_path, capsys):
    assert main(["data", "stats", "-d", f"hm:{tmp_path / 'nowhere'}"]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\nschema: vestis\nfields:\n  colour:\n    - column: c\n      map: {R: rouge}\n")
    folder = tmp_path / "t"
    with _open(folder / "items.csv") as fh:
        fh.write("image,c\na.jpg,R\n")
    draw_item(folder / "a.jpg", "red", "top")
    assert main(["data", "audit", "-d", f"table:{folder / 'items.csv'}", "--mapping", str(bad)]) == 2
    assert "'rouge' is not a value" in capsys.readouterr().err
