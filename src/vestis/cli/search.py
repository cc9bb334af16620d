"""``vestis search --catalog DIR [TEXT] [--image PHOTO [--modify TEXT]] [--where FILTER]``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Column, Table

from vestis.cli.common import console, path_column, print_json

MIN_TABLE_WIDTH = 80  # narrower, the table would crop the path column


def search_cmd(
    text: str = typer.Argument(None, help='Text query, e.g. "red floral midi dress".'),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    image: Path = typer.Option(None, "--image", "-i", help="Query photo."),
    modify: str = typer.Option(None, "--modify", help='With --image: the change, e.g. "but in black".'),
    where: str = typer.Option(
        None, "--where", "-w", help='Filter, e.g. "category=dress AND colour in (red,pink)".'
    ),
    k: int = typer.Option(10, "--k", "-k", help="Number of results."),
    no_hybrid: bool = typer.Option(
        False, "--no-hybrid", help="Pure embedding ranking (no attribute re-ranking)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print results as JSON."),
) -> int:
    """Search a catalog by text, by photo, or by photo + modification, optionally filtered."""
    from vestis.catalog.catalog import Catalog
    from vestis.search.searcher import Searcher

    cat = Catalog.open(catalog)
    searcher = Searcher(cat)
    hits = searcher.search(
        text=text, image=str(image) if image else None, modify=modify, where=where, k=k, hybrid=not no_hybrid
    )
    if json_out:
        print_json([h.to_dict() for h in hits])
        return 0
    if not hits:
        console.print("no results")
        return 0
    shown = cat.schema.roles.listing  # the schema's listing role
    if console.width < MIN_TABLE_WIDTH:  # too narrow for the table: one hit per line, its path below
        for h in hits:
            attrs = " ".join(str(v) for f in shown if (v := h.attributes.get(f)))
            console.print(f"[bold]{h.id}[/] {h.score:.3f} {escape(attrs)}", highlight=False)
            console.print(f"  {escape(h.path)}", soft_wrap=True, highlight=False)
        return 0
    table = Table(Column("id", no_wrap=True), "score", *shown, path_column())  # best first
    for h in hits:
        attrs = [str(h.attributes.get(f) or "") for f in shown]
        table.add_row(str(h.id), f"{h.score:.3f}", *attrs, escape(h.path))
    console.print(table)
    return 0
