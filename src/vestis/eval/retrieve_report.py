"""HTML report of the retrieval task: metrics table and example result grids."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from vestis.eval.report import thumbnail


def write_retrieve_report(result: dict[str, Any], examples: list, grids: dict[str, list], path: Path) -> Path:
    metric_names = ["R@1", "R@5", "R@10", "R@50", "MRR@50", "nDCG@10", "queries"]
    rows = "".join(
        "<tr><td>"
        + escape(task)
        + "</td>"
        + "".join(
            f"<td>{m.get(k, 0):.3f}</td>" if k != "queries" else f"<td>{m.get(k, 0)}</td>"
            for k in metric_names
        )
        + "</tr>"
        for task, m in result["tasks"].items()
    )
    blocks = []
    for task, items in grids.items():
        for query, top, target in items:
            cells = []
            for rank, idx in enumerate(top, 1):
                src = thumbnail(examples[idx].image)
                mark = "hit" if idx == target else ""
                img = f'<img src="data:image/jpeg;base64,{src}">' if src else "?"
                cells.append(f'<div class="cell {mark}">{img}<span>#{rank}</span></div>')
            blocks.append(
                f"<div class='q'><p><b>{escape(task)}</b>: {escape(query[:120])}</p>{''.join(cells)}</div>"
            )
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>vestis retrieval report</title><style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}
.cell{{display:inline-block;margin:3px;text-align:center;border:3px solid #fff}}
.cell.hit{{border-color:#2a2}}.cell img{{height:96px}}.cell span{{display:block;font-size:11px}}
</style></head><body>
<h1>Retrieval: {escape(result["dataset"])} ({escape(result["split"])}, {result["gallery"]} images)</h1>
<table><tr><th>task</th>{"".join(f"<th>{k}</th>" for k in metric_names)}</tr>{rows}</table>
<h2>Examples (green: the query's own item)</h2>{"".join(blocks)}</body></html>"""
    path.write_text(html)
    return path
