"""The extraction evaluator end to end: predictions, resume, metrics.json and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vestis.eval.extract import PREDICTIONS, ExtractEvaluator, read_predictions
from vestis.extract.base import create_extractor

STABLE = ("n", "errors", "fields", "weighted_score", "valid_json", "dataset", "backend", "schema", "split")


def run_extract_eval(dataset, extractor, out: Path, **options) -> dict:
    """The evaluator's detailed result (what metrics.json holds beside the flat metrics)."""
    evaluator = ExtractEvaluator(dataset, out_dir=out, progress=False, **options)
    evaluator(extractor)
    return evaluator.result


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_pixel_colour_run_writes_everything(synthetic_dataset, mini_schema, tmp_path: Path) -> None:
    out = tmp_path / "run"
    extractor = create_extractor("pixel-colour", mini_schema)
    metrics = run_extract_eval(synthetic_dataset, extractor, out)

    val = synthetic_dataset.split("val")
    assert metrics["n"] == len(val) == 7
    assert metrics["errors"] == {"image": 1}
    colour = metrics["fields"]["colour"]
    assert colour["support"] == 7
    assert colour["accuracy"] == pytest.approx(6 / 7)  # the unreadable image scores as a miss
    assert colour["macro_f1"] <= 1.0
    assert metrics["fields"]["category"]["accuracy"] == 0.0  # pixel-colour never guesses a category
    assert metrics["valid_json"] == {
        "strict": 1.0,
        "after_repair": 1.0,
        "parses": None,
        "text_outputs": 0,
    }  # no text: valid
    assert metrics["throughput"]["images_per_s"] > 0
    assert metrics["peak_rss_mb"] > 10
    assert metrics["backend"] == "pixel-colour" and metrics["schema"] == "mini"
    document = json.loads((out / "metrics.json").read_text())
    added = ("evaluator", "primary_metric", "metrics")
    assert {k: v for k, v in document.items() if k not in added} == metrics
    assert document["primary_metric"] == "extract/weighted_score"
    assert document["metrics"]["extract/weighted_score"] == metrics["weighted_score"]
    assert document["metrics"]["extract/colour/accuracy"] == colour["accuracy"]

    records = _lines(out / PREDICTIONS)
    assert [r["id"] for r in records] == [ex.id for ex in val]
    broken = next(r for r in records if r["error_kind"] == "image")
    assert broken["error"] and broken["pred"]["colour"] is None
    assert set(records[0]) >= {
        "id",
        "image",
        "gold",
        "pred",
        "confidence",
        "valid_raw",
        "repairs",
        "error",
        "seconds",
    }

    html = (out / "report.html").read_text(encoding="utf-8")
    for name in mini_schema.fields:
        assert name in html
    assert "<img" in html and "data:image/png;base64," in html
    assert "failed to load" in html


def test_majority_run_and_limit(synthetic_dataset, mini_schema, tmp_path: Path) -> None:
    metrics = run_extract_eval(
        synthetic_dataset,
        create_extractor("majority", mini_schema),
        tmp_path / "run",
        limit=3,
    )
    assert metrics["n"] == 3
    gold = [ex.labels["category"] for ex in synthetic_dataset.split("val")[:3]]
    assert metrics["fields"]["category"]["accuracy"] == pytest.approx(gold.count("top") / 3)
    assert "data:image/jpeg;base64," in (tmp_path / "run" / "report.html").read_text()  # worst errors


def test_resume_after_interruption(synthetic_dataset, mini_schema, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    extractor = create_extractor("pixel-colour", mini_schema)
    full = run_extract_eval(synthetic_dataset, extractor, out)
    lines = (out / PREDICTIONS).read_text(encoding="utf-8").splitlines(keepends=True)

    # a killed run: three complete records and half of the fourth
    (out / PREDICTIONS).write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2], encoding="utf-8")
    seen: list[int] = []
    original = extractor._extract_batch
    monkeypatch.setattr(
        extractor, "_extract_batch", lambda images: seen.append(len(images)) or original(images)
    )
    resumed = run_extract_eval(synthetic_dataset, extractor, out)

    records = _lines(out / PREDICTIONS)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == full["n"]
    assert sum(seen) == full["n"] - 3 - 1  # only the missing ones, less the unreadable image
    assert {k: resumed[k] for k in STABLE} == {k: full[k] for k in STABLE}

    seen.clear()
    again = run_extract_eval(synthetic_dataset, extractor, out)
    assert seen == [] and again["n"] == full["n"]


def test_fresh_run_and_refusal_to_mix_runs(synthetic_dataset, mini_schema, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_extract_eval(synthetic_dataset, create_extractor("pixel-colour", mini_schema), out)
    with pytest.raises(ValueError, match="another run"):
        run_extract_eval(synthetic_dataset, create_extractor("majority", mini_schema), out)
    metrics = run_extract_eval(
        synthetic_dataset,
        create_extractor("majority", mini_schema),
        out,
        resume=False,
    )
    assert metrics["backend"] == "majority"
    assert len(_lines(out / PREDICTIONS)) == metrics["n"]


def test_read_predictions_truncates_a_partial_tail(tmp_path: Path) -> None:
    path = tmp_path / PREDICTIONS
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "pr', encoding="utf-8")
    assert [r["id"] for r in read_predictions(path)] == ["a", "b"]
    assert path.read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "b"}\n'
    assert read_predictions(tmp_path / "missing.jsonl") == []
