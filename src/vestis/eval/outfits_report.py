"""HTML report of the outfits task: metrics, FITB accuracy per category, example questions as image strips."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from vestis.eval.report import thumbnail
from vestis.outfits.data import OutfitData

EXAMPLES = 8  # right and wrong answers shown, each


def _cell(data: OutfitData, i: int, caption: str, mark: str = "") -> str:
    src = thumbnail(data.images[i]) if data.images else None
    img = f'<img src="data:image/jpeg;base64,{src}">' if src else '<div class="missing">?</div>'
    label = escape(f"{data.categories[i] or '?'} · {caption}")
    return f'<div class="cell {mark}" title="{escape(data.ids[i])}">{img}<span>{label}</span></div>'


def _question(data: OutfitData, r: dict[str, Any]) -> str:
    chosen = int(np.argmax(r["scores"]))
    given = "".join(_cell(data, i, "given") for i in r["given"])
    cands = "".join(
        _cell(
            data,
            c,
            f"{s:.3f}",
            "answer" if j == r["answer"] else ("wrong" if j == chosen else ""),
        )
        for j, (c, s) in enumerate(zip(r["candidates"], r["scores"], strict=True))
    )
    rank = f" · hidden item ranked {r['rank'] + 1:.0f} of {r['pool']}" if "rank" in r else ""
    return (
        f"<div class='q'><p>outfit {escape(str(r['outfit']))}{rank}</p>"
        f"<div class='strip'>{given}</div><div class='strip cands'>{cands}</div></div>"
    )


def write_outfits_report(metrics: dict[str, Any], records: list[dict], data: OutfitData, path: Path) -> Path:
    chance = metrics.get("chance", {})
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{metrics[k]:.3f}</td><td>{chance.get(k, float('nan')):.3f}</td></tr>"
        for k in metrics
        if (k in ("auc", "fitb") or k.startswith("recall@")) and metrics[k] is not None
    )
    cats = "".join(
        f"<tr><td>{escape(c)}</td><td>{m['accuracy']:.3f}</td><td>{m['questions']}</td></tr>"
        for c, m in metrics.get("fitb_by_category", {}).items()
    )
    calibration = ""
    if metrics.get("reliability"):
        bins = "".join(
            f"<tr><td>{r['low']:.1f}–{r['high']:.1f}</td><td>{r['looks']}</td><td>{r['mean_probability']:.3f}</td>"
            f"<td>{r['share_real']:.3f}</td></tr>"
            for r in metrics["reliability"]
        )
        calibration = f"""<h2>Calibration ({escape(str(metrics.get("calibration")))})</h2>
<p>Probabilities of the real and random outfits above (the two classes weighted equally): expected
calibration error {metrics["ece"]:.3f}, accuracy {metrics["accuracy"]:.3f} and F1 {metrics["f1"]:.3f}
at probability 0.5. A calibrated scorer's mean probability matches the share of real outfits in each bin.</p>
<table><tr><th>probability</th><th>outfits</th><th>mean probability</th><th>share real</th></tr>
{bins}</table>"""
    right = [r for r in records if int(np.argmax(r["scores"])) == r["answer"]][:EXAMPLES]
    wrong = [r for r in records if int(np.argmax(r["scores"])) != r["answer"]][:EXAMPLES]
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>vestis outfits report</title><style>
body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}.q{{margin:1em 0;padding-bottom:.5em;border-bottom:1px solid #eee}}
.strip{{display:flex;flex-wrap:wrap;gap:4px}}
.cands{{margin-top:4px;padding-top:4px;border-top:1px dashed #ccc}}
.cell{{text-align:center;border:3px solid #fff}}.cell img,.missing{{height:96px}}
.cell span{{display:block;font-size:11px}}.cell.answer{{border-color:#2a2}}.cell.wrong{{border-color:#c22}}
</style></head><body>
<h1>Outfits: {escape(str(metrics.get("dataset", "")))} ({escape(str(metrics.get("split", "")))}),
scorer {escape(str(metrics.get("scorer", "")))}</h1>
<p>{metrics.get("outfits", 0)} outfits, {metrics.get("items", 0)} items, {metrics.get("fitb_questions", 0)}
fill-in-the-blank questions; seed {metrics.get("seed", 0)}.</p>
<table><tr><th>metric</th><th>value</th><th>chance</th></tr>{rows}</table>
{calibration}
<h2>FITB accuracy by hidden item's category</h2>
<table><tr><th>category</th><th>accuracy</th><th>questions</th></tr>{cats}</table>
<h2>Fill in the blank: right answers</h2>
<p>Top row: the outfit with one item hidden. Bottom row: the candidates with their scores;
green is the hidden item, red the scorer's wrong choice.</p>
{"".join(_question(data, r) for r in right)}
<h2>Fill in the blank: wrong answers</h2>
{"".join(_question(data, r) for r in wrong)}
</body></html>"""
    path.write_text(html)
    return path
