"""A self-contained HTML report of an extraction run: one file, images embedded.

Summary, per-field table, a confusion matrix per closed single field (top classes
only) and the most confident mistakes with thumbnails, so a reader sees at a glance
what a backend gets wrong and how sure it was.
"""

from __future__ import annotations

import base64
import io
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.errors import require
from vestis.eval.metrics import confusion_matrix
from vestis.images import ImageLoadError, load_image

if TYPE_CHECKING:
    from vestis.schema import Schema

logger = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
TOP_CLASSES = 15
WORST_ERRORS = 24
THUMB_PX = 96
NONE_LABEL = "(none)"
OTHER_LABEL = "(other)"


def write_report(
    metrics: dict[str, Any], records: Sequence[dict[str, Any]], schema: Schema, path: str | Path
) -> Path:
    """Render ``report.html`` for a run's metrics and prediction records."""
    require("jinja2", "report", "the HTML report")
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["num"] = format_number
    fields = metrics.get("fields", {})
    html = env.get_template("report.html").render(
        m=metrics,
        fields=[{"name": name, **fm} for name, fm in fields.items()],
        confusions=confusion_plots(schema, records, fields),
        worst=worst_errors(schema, records),
        load_errors=[r for r in records if r.get("error_kind") == "image"][:50],
    )
    out = Path(path)
    out.write_text(html, encoding="utf-8")
    return out


def confusion_plots(
    schema: Schema, records: Sequence[dict[str, Any]], fields: dict[str, dict[str, Any]]
) -> list[dict[str, str]]:
    """One base64 PNG per closed single field with gold labels."""
    plots = []
    for name, f in schema.fields.items():
        if f.kind != "single" or not fields.get(name, {}).get("support") or not fields[name].get("coverage"):
            continue  # nothing to confuse: no gold labels, or the backend never answers this field
        pairs = [(r["gold"][name], r["pred"].get(name)) for r in records if r["gold"].get(name) is not None]
        plots.append({"field": name, "png": _confusion_png(name, pairs, fields[name].get("accuracy"))})
    return plots


def worst_errors(schema: Schema, records: Sequence[dict[str, Any]], limit: int = WORST_ERRORS) -> list[dict]:
    """Wrong predictions of closed fields, most confident first, with thumbnails."""
    ranked = []
    for r in records:
        if r.get("error_kind") == "image":
            continue
        wrong = []
        for name, f in schema.fields.items():
            gold, pred = r["gold"].get(name), r["pred"].get(name)
            if not f.closed or gold is None or _same(gold, pred):
                continue
            wrong.append(
                {
                    "field": name,
                    "gold": _show(gold),
                    "pred": _show(pred),
                    "confidence": float(r.get("confidence", {}).get(name, 0.0)),
                }
            )
        if wrong:
            wrong.sort(key=lambda w: -w["confidence"])
            ranked.append((wrong[0]["confidence"], r, wrong))
    ranked.sort(key=lambda t: -t[0])
    return [
        {"id": r["id"], "thumb": thumbnail(r["image"]), "wrong": wrong, "error": r.get("error")}
        for _, r, wrong in ranked[:limit]
    ]


def thumbnail(source: str, size: int = THUMB_PX) -> str | None:
    """A base64 JPEG thumbnail, or None when the image cannot be read."""
    try:
        img = load_image(source, draft_size=size * 2)
    except ImageLoadError:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _confusion_png(name: str, pairs: list[tuple[Any, Any]], acc: float | None) -> str:
    matplotlib = require("matplotlib", "report", "the report's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = Counter(g for g, _ in pairs) + Counter(p for _, p in pairs if p is not None)
    top = [v for v, _ in counts.most_common(TOP_CLASSES)]
    gold = [g if g in top else OTHER_LABEL for g, _ in pairs]
    pred = [NONE_LABEL if p is None else p if p in top else OTHER_LABEL for _, p in pairs]
    cols = top + [v for v in (OTHER_LABEL, NONE_LABEL) if v in gold or v in pred]
    matrix, _ = confusion_matrix(gold, pred, cols)
    rows = [i for i, v in enumerate(cols) if v != NONE_LABEL]
    matrix = matrix[rows]
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)

    side = 1.8 + 0.42 * len(cols)
    fig, ax = plt.subplots(figsize=(side + 0.6, side))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.55 else "#1f2937",
                )
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [str(cols[i]) for i in rows], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    title = name if acc is None else f"{name}  (accuracy {acc:.1%})"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _same(gold: Any, pred: Any) -> bool:
    if isinstance(gold, list):
        return isinstance(pred, list) and set(gold) == set(pred)
    return gold == pred


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "∅"
    return str(value)


def format_number(value: Any, percent: bool = True) -> str:
    """Template filter: percentages for rates, '—' for missing values."""
    if not isinstance(value, (int, float, str)):  # None or a jinja2 Undefined
        return "—"
    if isinstance(value, float):
        return f"{value:.1%}" if percent else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
