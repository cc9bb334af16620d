"""The Denali measures through the extract evaluator: flat keys, consistency, raw-text JSON, compare."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import draw_item
from vestis.cli.main import main
from vestis.eval import denali as D
from vestis.eval.compare import COMPARE_FILE, compare_runs, write_compare_report
from vestis.eval.extract import ExtractEvaluator
from vestis.extract.base import Extraction, Extractor, create_extractor


class RandomAnswers(Extractor):
    """Answers a random colour each time: a sampling backend, for consistency < 1."""

    name = "test-random-answers"

    def __init__(self, schema) -> None:
        super().__init__(schema)
        self.rng = random.Random(0)

    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        colours = self.schema.fields["colour"].vocabulary
        return [Extraction({**self.schema.empty(), "colour": self.rng.choice(colours)}) for _ in images]


class TextAnswers(Extractor):
    """A generative-like backend: writes JSON text (some of it broken), validated by ``from_raw``."""

    name = "test-text-answers"
    TEXTS = (
        '{"category": "top", "colour": "red", "secondary_colour": null, "closure": [], "brand": null}',
        '```json\n{"category": "Top", "colour": "N/A",}\n```',
        '{"category": "a spaceship", "colour": "red"}',
        "sorry, I cannot help with that",
    )

    def __init__(self, schema) -> None:
        super().__init__(schema)
        self.calls = 0

    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        out = []
        for _ in images:
            out.append(self.from_raw(self.TEXTS[self.calls % len(self.TEXTS)]))
            self.calls += 1
        return out


def _fake_similarity(gold, pred):
    return [1.0 if g == p else 0.5 for g, p in zip(gold, pred, strict=True)]


@pytest.fixture
def fake_minilm(monkeypatch):
    """MiniLM replaced by a stand-in, so the composite is computed without loading weights."""
    monkeypatch.setattr(D, "embedding_cosine", _fake_similarity)


def _evaluate(dataset, extractor, out: Path | None, **options):
    evaluator = ExtractEvaluator(dataset, out_dir=out, progress=False, **options)
    return evaluator, evaluator(extractor)


def test_every_denali_measure_is_a_flat_metric(synthetic_dataset, mini_schema, tmp_path, fake_minilm) -> None:
    evaluator, metrics = _evaluate(
        synthetic_dataset,
        create_extractor("majority", mini_schema),
        tmp_path / "run",
        embeddings=True,
        repeats=2,
    )
    result = evaluator.result
    assert all(key.startswith("extract/") for key in metrics)
    for name, fm in result["fields"].items():
        if not fm["support"]:
            continue
        for measure in (*D.COMPOSITE_WEIGHTS, "presence_rate", "null_rate", "annotated", "composite"):
            assert metrics[f"extract/{name}/denali/{measure}"] == fm["denali"][measure]
        assert fm["denali"]["composite"] == pytest.approx(D.composite(fm["denali"]))
    for key in (
        "denali/weighted_score",
        "denali/composite",
        "weighted_score",
        "valid_json/strict",
        "valid_json/after_repair",
        "valid_json/text_outputs",
        "throughput/images_per_s",
        "peak_rss_mb",
        "consistency/all_fields",
        "consistency/colour",
        "consistency/n",
        "consistency/repeats",
    ):
        assert f"extract/{key}" in metrics, key
    per_field = {name: {"support": f["support"], **f["denali"]} for name, f in result["fields"].items()}
    assert metrics["extract/denali/weighted_score"] == pytest.approx(D.weighted_score(mini_schema, per_field))
    # by hand: majority always answers "top"; the unreadable image (labelled top) gets no answer
    category = result["fields"]["category"]["denali"]
    golds = [ex.labels["category"] for ex in synthetic_dataset.split("val")]
    n, hits = len(golds), golds.count("top") - 1
    assert category["value_accuracy"] == pytest.approx(hits / n)
    assert category["presence_rate"] == pytest.approx((n - 1) / n) and category["null_rate"] is None
    assert category["embedding_similarity"] == pytest.approx((hits + 0.5 * (n - 1 - hits)) / n)
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Denali measures" in html and "Denali weighted score" in html


def test_deterministic_backends_are_fully_consistent(synthetic_dataset, mini_schema) -> None:
    for backend in ("majority", "pixel-colour"):
        _, metrics = _evaluate(
            synthetic_dataset, create_extractor(backend, mini_schema), None, repeats=3, consistency_limit=5
        )
        assert metrics["extract/consistency/repeats"] == 3
        assert metrics["extract/consistency/n"] == 5
        assert metrics["extract/consistency/all_fields"] == 1.0
        assert all(metrics[f"extract/consistency/{name}"] == 1.0 for name in mini_schema.fields)


def test_a_sampling_backend_is_less_consistent(synthetic_dataset, mini_schema) -> None:
    _, metrics = _evaluate(synthetic_dataset, RandomAnswers(mini_schema), None, repeats=3)
    assert metrics["extract/consistency/n"] == 6  # seven in val, one of them unreadable
    assert metrics["extract/consistency/colour"] < 1.0
    assert metrics["extract/consistency/all_fields"] == metrics["extract/consistency/colour"]
    assert metrics["extract/consistency/category"] == 1.0  # always null


def test_one_run_reports_no_consistency(synthetic_dataset, mini_schema) -> None:
    evaluator, metrics = _evaluate(synthetic_dataset, create_extractor("majority", mini_schema), None)
    assert "consistency" not in evaluator.result
    assert not any(key.startswith("extract/consistency/") for key in metrics)


def test_valid_json_is_judged_from_the_raw_text(synthetic_dataset, mini_schema, tmp_path) -> None:
    backend = TextAnswers(mini_schema)
    _, metrics = _evaluate(synthetic_dataset, backend, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    seen = [r for r in records if r["error_kind"] != "image"]
    checks = [mini_schema.validate(r["raw"]) for r in seen]
    assert metrics["extract/valid_json/text_outputs"] == len(seen) == 6
    assert metrics["extract/valid_json/strict"] == pytest.approx(sum(c.strict for c in checks) / len(seen))
    assert metrics["extract/valid_json/after_repair"] == pytest.approx(sum(c.ok for c in checks) / len(seen))
    assert 0 < metrics["extract/valid_json/strict"] < metrics["extract/valid_json/after_repair"] < 1


def test_options_are_checked(synthetic_dataset) -> None:
    from vestis.errors import OptionsError

    with pytest.raises(OptionsError):
        ExtractEvaluator(synthetic_dataset, repeats=0)


def test_compare_report_puts_backends_side_by_side(
    synthetic_dataset, mini_schema, tmp_path, fake_minilm
) -> None:
    runs = []
    for backend in ("majority", "pixel-colour"):
        out = tmp_path / backend
        _evaluate(synthetic_dataset, create_extractor(backend, mini_schema), out, embeddings=True, repeats=2)
        runs.append(out)
    comparison = compare_runs(runs)
    assert [r["label"] for r in comparison["runs"]] == ["majority", "pixel-colour"]
    assert comparison["warnings"] == []
    majority = json.loads((runs[0] / "metrics.json").read_text())
    pixel = json.loads((runs[1] / "metrics.json").read_text())
    summary = comparison["summary"]
    assert summary["denali/weighted_score"] == {
        "majority": majority["denali"]["weighted_score"],
        "pixel-colour": pixel["denali"]["weighted_score"],
    }
    assert summary["consistency/all_fields"] == {"majority": 1.0, "pixel-colour": 1.0}
    assert summary["throughput/images_per_s"]["pixel-colour"] == pixel["throughput"]["images_per_s"]
    colour = comparison["fields"]["colour"]
    assert colour["weight"] == 1.5 and colour["labelled"]
    assert colour["measures"]["accuracy"]["pixel-colour"] == pixel["fields"]["colour"]["accuracy"]
    assert (
        colour["measures"]["denali/composite"]["majority"]
        == majority["fields"]["colour"]["denali"]["composite"]
    )
    assert colour["best"]["accuracy"] == ["pixel-colour"]
    assert not comparison["fields"]["secondary_colour"]["labelled"]  # always null in the labels

    report = write_compare_report(comparison, tmp_path / "cmp")
    assert json.loads((tmp_path / "cmp" / COMPARE_FILE).read_text()) == comparison
    html = report.read_text(encoding="utf-8")
    for text in ("majority", "pixel-colour", "Denali weighted score", "colour", "composite", "Valid JSON"):
        assert text in html

    assert main(["eval", "compare", str(runs[0]), str(runs[1]), "-o", str(tmp_path / "cli")]) == 0
    assert json.loads((tmp_path / "cli" / COMPARE_FILE).read_text())["summary"] == summary


def test_compare_warns_about_runs_on_different_data(synthetic_dataset, mini_schema, tmp_path) -> None:
    _evaluate(synthetic_dataset, create_extractor("majority", mini_schema), tmp_path / "a")
    _evaluate(synthetic_dataset, create_extractor("majority", mini_schema), tmp_path / "b", limit=3)
    comparison = compare_runs([tmp_path / "a", tmp_path / "b"])
    assert [r["label"] for r in comparison["runs"]] == ["majority (a)", "majority (b)"]
    assert any("differ in n" in w for w in comparison["warnings"])


def test_compare_refuses_a_directory_without_a_run(tmp_path, capsys) -> None:
    assert main(["eval", "compare", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "metrics.json" in capsys.readouterr().err


def test_cli_extract_with_several_backends(tmp_path, capsys) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    rows = [("red", "top"), ("navy", "bottom"), ("red", "top"), ("black", "footwear")] * 2
    with (folder / "items.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "sku", "shade"])
        for i, (colour, category) in enumerate(rows):
            draw_item(folder / f"img{i}.jpg", colour, category)
            writer.writerow([f"img{i}.jpg", f"sku{i}", colour.upper()])
    mapping = tmp_path / "shop__vestis.yaml"
    mapping.write_text(
        "source: shop\nschema: vestis\nfields:\n  colour:\n    - column: shade\n"
        "      map: {RED: red, NAVY: navy, BLACK: black}\n"
    )
    spec = f"table:{folder / 'items.csv'}?id=sku&mapping={mapping}"
    out = tmp_path / "eval"
    argv = ["eval", "extract", "-d", spec, "-b", "majority", "-b", "pixel-colour", "-o", str(out)]
    assert main([*argv, "--split", "all", "--no-embeddings", "--repeats", "2"]) == 0
    comparison = json.loads((out / COMPARE_FILE).read_text())
    assert [r["label"] for r in comparison["runs"]] == ["majority", "pixel-colour"]
    assert comparison["summary"]["consistency/all_fields"] == {"majority": 1.0, "pixel-colour": 1.0}
    assert (out / "majority" / "metrics.json").is_file() and (out / "report.html").is_file()
    assert "side by side" in capsys.readouterr().out
    assert main([*argv, "--model", "x"]) == 2
