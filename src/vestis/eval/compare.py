"""Extraction runs side by side: each backend's measures in columns, per field and for the run.

Reads the ``metrics.json`` that :class:`~vestis.eval.extract.ExtractEvaluator` writes into each run
directory; nothing is recomputed, so runs made at different times (or on other machines) compare
as long as they scored the same dataset, split and schema (a warning says when they did not).

>>> comparison = compare_runs(["runs/hm-lite", "runs/hm-majority"])  # doctest: +SKIP
>>> comparison["summary"]["denali/weighted_score"]  # {"lite": 0.71, "majority": 0.32}  # doctest: +SKIP
>>> write_compare_report(comparison, "runs/hm-compare")  # report.html + compare.json  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vestis.errors import UserError
from vestis.eval.base import METRICS_FILE

COMPARE_FILE = "compare.json"
REPORT_FILE = "report.html"

#: Run-level rows of the summary table: (key in compare.json, label, higher is better; None: no best).
SUMMARY: tuple[tuple[str, str, bool | None], ...] = (
    ("denali/weighted_score", "Denali weighted score (composite)", True),
    ("denali/composite", "Denali composite, mean over fields", True),
    ("weighted_score", "Weighted score (accuracy)", True),
    ("valid_json/strict", "Valid JSON, strict", True),
    ("valid_json/after_repair", "Valid JSON, after repair", True),
    ("valid_json/parses", "Text outputs that parse as a JSON object (syntax only)", True),
    ("valid_json/text_outputs", "Outputs written as text (judged for JSON)", None),
    ("consistency/all_fields", "Consistency across runs", True),
    ("throughput/images_per_s", "Throughput (samples/s)", True),
    ("peak_rss_mb", "Peak RSS (MiB)", False),
    ("n", "Examples", None),
)
#: Per-field rows: (path in the field's result, label). Missing ones show as "—".
FIELD_MEASURES: tuple[tuple[str, str], ...] = (
    ("support", "support (labelled)"),
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    ("micro_f1", "micro-F1"),
    ("coverage", "coverage"),
    ("denali/presence_rate", "presence rate"),
    ("denali/null_rate", "null rate"),
    ("denali/value_accuracy", "value accuracy (structured match)"),
    ("denali/embedding_similarity", "embedding similarity"),
    ("denali/token_set_ratio", "token-set ratio"),
    ("denali/rouge_l", "ROUGE-L"),
    ("denali/composite", "composite"),
    ("consistency", "consistency"),
)
_SAME = ("dataset", "split", "schema", "n")


def load_run(path: str | os.PathLike) -> dict[str, Any]:
    """The detailed result of one extraction run directory (its ``metrics.json``)."""
    file = Path(path) / METRICS_FILE
    if not file.is_file():
        raise UserError(f"{path}: no {METRICS_FILE}; run `vestis eval extract --out {path}` first")
    run = json.loads(file.read_text(encoding="utf-8"))
    if run.get("evaluator") != "extract":
        raise UserError(f"{file} is from the {run.get('evaluator')!r} evaluator, not extract")
    return run


def compare_runs(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Measures of several extraction runs, keyed by run label (the backend, made unique).

    Returns ``runs`` (label, path, backend, dataset, split, schema, n), ``summary`` (measure →
    label → value, see :data:`SUMMARY`), ``fields`` (field → weight and measure → label → value,
    see :data:`FIELD_MEASURES`), ``best`` (measure → labels of the best value) and ``warnings``.
    """
    if not paths:
        raise UserError("compare needs at least one run directory")
    loaded = [(Path(p), load_run(p)) for p in paths]
    labels = _labels([(p, r.get("backend") or p.name) for p, r in loaded])
    runs = [
        {"label": label, "path": str(p), **{k: r.get(k) for k in ("backend", *_SAME)}}
        for label, (p, r) in zip(labels, loaded, strict=True)
    ]
    summary = {
        key: {label: _get(r, key) for label, (_, r) in zip(labels, loaded, strict=True)}
        for key, _, _ in SUMMARY
    }
    names = list(dict.fromkeys(name for _, r in loaded for name in r.get("fields", {})))
    fields: dict[str, Any] = {}
    for name in names:
        per_run = [
            (label, r.get("fields", {}).get(name, {}), r)
            for label, (_, r) in zip(labels, loaded, strict=True)
        ]
        measures = {
            key: {label: _field_value(fm, r, name, key) for label, fm, r in per_run}
            for key, _ in FIELD_MEASURES
        }
        fields[name] = {
            "weight": next((fm["weight"] for _, fm, _ in per_run if "weight" in fm), None),
            "labelled": any(fm.get("support") for _, fm, _ in per_run),
            "measures": measures,
            "best": {key: _best(measures[key], True) for key, _ in FIELD_MEASURES if key != "support"},
        }
    best = {key: _best(summary[key], higher) for key, _, higher in SUMMARY if higher is not None}
    return {"runs": runs, "summary": summary, "fields": fields, "best": best, "warnings": _warnings(runs)}


def write_compare_report(comparison: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write ``compare.json`` and a self-contained ``report.html`` into ``out_dir``; returns the report."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from vestis.eval.report import TEMPLATES, format_number

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPARE_FILE).write_text(json.dumps(comparison, indent=2), encoding="utf-8")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["num"] = format_number
    html = env.get_template("compare.html").render(
        c=comparison,
        labels=[r["label"] for r in comparison["runs"]],
        summary_rows=SUMMARY,
        field_rows=FIELD_MEASURES,
        version=_version(),
    )
    report = out / REPORT_FILE
    report.write_text(html, encoding="utf-8")
    return report


def _labels(candidates: list[tuple[Path, str]]) -> list[str]:
    """Backend names, with the run directory added where two runs share a backend."""
    counts: dict[str, int] = {}
    for _, name in candidates:
        counts[name] = counts.get(name, 0) + 1
    labels = [name if counts[name] == 1 else f"{name} ({path.name})" for path, name in candidates]
    return [label if labels.count(label) == 1 else f"{label} #{i + 1}" for i, label in enumerate(labels)]


def _get(tree: dict[str, Any], path: str) -> Any:
    for part in path.split("/"):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _field_value(fm: dict[str, Any], run: dict[str, Any], name: str, key: str) -> Any:
    if key == "consistency":
        return _get(run, f"consistency/fields/{name}")
    value = _get(fm, key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _best(values: dict[str, Any], higher: bool) -> list[str]:
    numbers = {label: v for label, v in values.items() if isinstance(v, (int, float))}
    if len(numbers) < 2:
        return []
    top = max(numbers.values()) if higher else min(numbers.values())
    return [label for label, v in numbers.items() if v == top]


def _warnings(runs: list[dict[str, Any]]) -> list[str]:
    out = []
    for key in _SAME:
        values = {str(r.get(key)) for r in runs}
        if len(values) > 1:
            out.append(
                f"the runs differ in {key} ({', '.join(sorted(values))}): their numbers do not compare"
            )
    return out


def _version() -> str:
    from vestis import __version__

    return __version__


__all__ = ["COMPARE_FILE", "FIELD_MEASURES", "SUMMARY", "compare_runs", "load_run", "write_compare_report"]
