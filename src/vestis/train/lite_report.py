"""Model card and training report for vestis-lite."""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path
from typing import Any


def _field_rows(val: dict[str, Any]) -> list[str]:
    rows = []
    for name, m in val["fields"].items():
        metric = "accuracy" if "accuracy" in m else "micro-F1"
        value = m.get("accuracy", m.get("micro_f1"))
        rows.append(f"| {name} | {metric} | {value:.3f} | {m['support']} |")
    return rows


def reliability_rows(table: dict[str, Any]) -> list[str]:
    """Markdown rows: each head's held-out reliability and the gate it was given."""
    lines = [
        "| field | train labels | val support | accuracy | majority guess | ECE | gate |",
        "|---|---|---|---|---|---|---|",
    ]
    for head, row in table.items():
        if "values" in row:
            gated = {v: r["threshold"] for v, r in row["values"].items() if r["threshold"] != "field"}
            cells = [str(row["support"]), "—", "—", "—"]
        else:
            gated = row.get("value_thresholds", {})
            cells = [str(row.get("support", 0))] + [
                f"{row[k]:.3f}" if k in row else "—" for k in ("accuracy", "majority", "ece")
            ]
        gate = ", ".join(f"{v} never" if t is None else f"{v} ≥ {t}" for v, t in gated.items())
        gate = gate or "field threshold"
        if row.get("disabled"):
            gate = f"**disabled**: {row['disabled']}"
        lines.append(f"| {head} | {row['train_labels']} | " + " | ".join(cells) + f" | {gate} |")
    return lines


def model_card(summary: dict[str, Any]) -> str:
    cfg = summary["config"]
    val = summary["val"]
    r = val.get("retrieval", {})
    lines = [
        "---",
        "library_name: vestis",
        "tags: [fashion, image-classification, image-text-retrieval]",
        "license: apache-2.0",
        "---",
        "",
        "# vestis-lite",
        "",
        "The embedded default model of vestis: EfficientNet-Lite0 (ImageNet) image tower with its upper "
        f"blocks (from block {cfg['split']} of 16) fine-tuned on fashion, one head per closed field of the "
        f"`{cfg['schema']}` schema, and frozen MiniLM-L6 text features projected into a shared "
        f"{cfg['embed_dim']}-d space. Input: {cfg['image_size']} px letterboxed square.",
        "",
        "## Training data",
        "",
        f"Datasets: {', '.join(cfg['datasets'])} (train split: {summary['train_examples']} images; "
        f"validation: {summary['val_examples']} images, held out by product group). Labels come from the "
        "shipped mapping files (`vestis data audit` shows how raw labels were mapped); captions are product "
        "titles/descriptions where the source has them, plus phrases built from the labels.",
        "",
        f"Recipe: `vestis train lite` with {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']} "
        f"(backbone {cfg['backbone_lr']}), seed {cfg['seed']}.",
        "",
        "## Validation metrics (cached features, argmax, before the null threshold)",
        "",
        "| field | metric | value | support |",
        "|---|---|---|---|",
        *_field_rows(val),
        "",
        f"Text→image retrieval on the validation split (first caption of each item as the query, "
        f"{r.get('queries', 0)} queries): R@1 {r.get('R@1', 0):.3f}, R@10 {r.get('R@10', 0):.3f}.",
        "",
        *reliability_section(summary.get("reliability")),
        "## Limits",
        "",
        "- Trained on studio product shots (H&M, Mango) and CC0 phone photos of single garments; photos of "
        "people wearing several garments are out of distribution.",
        "- Weak labels (neckline, sleeves, closure, fit, material on H&M) come from keyword rules on product "
        "descriptions and are noisy; fields with little support are less reliable.",
        "- Brand, size and defects cannot be seen by this model: they come back null.",
        "- Zero-shot scoring of vocabularies without a head is only as good as the training captions' words.",
        "",
    ]
    return "\n".join(lines)


def reliability_section(table: dict[str, Any] | None) -> list[str]:
    if not table:
        return []
    return [
        "## Reliability on held-out data (calibrated; gates applied at extraction)",
        "",
        "A disabled head's fields come back null with confidence 0; a value with a threshold is said only "
        "at or above it (never: not said at all). See `vestis.train.lite_reliability`.",
        "",
        *reliability_rows(table),
        "",
    ]


def _plot(history: list[dict[str, Any]]) -> str:
    from vestis.errors import require

    matplotlib = require("matplotlib", "report", "the training report's plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = [h["epoch"] for h in history]
    for key in history[0]["train_loss"]:
        axes[0].plot(epochs, [h["train_loss"].get(key, float("nan")) for h in history], label=key)
    axes[0].set_title("training loss")
    axes[0].set_xlabel("epoch")
    axes[0].legend(fontsize=6, ncol=2)
    for key in history[0]["val"]["fields"]:
        values = [
            h["val"]["fields"][key].get("accuracy", h["val"]["fields"][key].get("micro_f1")) for h in history
        ]
        axes[1].plot(epochs, values, label=key)
    axes[1].plot(
        epochs,
        [h["val"].get("retrieval", {}).get("R@10", float("nan")) for h in history],
        "k--",
        label="text→image R@10",
    )
    axes[1].set_title("validation")
    axes[1].set_xlabel("epoch")
    axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(summary: dict[str, Any], out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{m.get('accuracy', m.get('micro_f1')):.3f}</td>"
        f"<td>{m['support']}</td></tr>"
        for n, m in summary["val"]["fields"].items()
    )
    plot = f'<img src="data:image/png;base64,{_plot(summary["history"])}">' if summary["history"] else ""
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>vestis-lite training report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}
th{{background:#f4f4f4}}</style>
</head><body><h1>vestis-lite training report</h1>
<p>{summary["train_examples"]} training and {summary["val_examples"]} validation images from
{escape(", ".join(summary["datasets"]))}.</p>{plot}
<h2>Validation (final, calibrated model)</h2><table><tr><th>field</th><th>accuracy / micro-F1</th>
<th>support</th></tr>{rows}</table>
<h2>Configuration</h2><pre>{escape(json.dumps(summary["config"], indent=1))}</pre></body></html>"""
    path = out_dir / "report.html"
    path.write_text(html)
    return path
