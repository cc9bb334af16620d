"""``vestis search --catalog DIR [TEXT] [--image PHOTO [--item N] [--modify TEXT]] [--where FILTER]``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Column, Table

from vestis.cli.common import console, item_place, path_column, print_json

MIN_TABLE_WIDTH = 80  # narrower, the table would crop the path column


def search_cmd(
    text: str = typer.Argument(None, help='Text query, e.g. "red floral midi dress".'),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    image: Path = typer.Option(None, "--image", "-i", help="Query photo."),
    item: int = typer.Option(
        None,
        "--item",
        help="With --image of a person: search with garment N (numbered from 0 as the parser finds them; "
        "without --item, each garment in turn).",
    ),
    parser: str = typer.Option(
        None,
        "--parser",
        help="Finds the garments of the query photo (default: the catalog's; with --item, lite-parser "
        "where the catalog's is whole).",
    ),
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
    """Search a catalog by text, by photo, or by photo + modification, optionally filtered.

    A photo of a person is searched garment by garment: with --item N by garment N, else by each
    garment in turn (results grouped per garment; --json then prints {"photo", "garments"}).
    A product shot is searched whole. Results that are garments of catalog photos show their box.
    """
    from vestis.catalog.catalog import Catalog
    from vestis.errors import OptionsError
    from vestis.search.searcher import Searcher

    if image is None and (item is not None or parser):
        raise OptionsError("--item and --parser need --image")
    cat = Catalog.open(catalog)
    searcher = Searcher(cat)
    shown = cat.schema.roles.listing  # the schema's listing role
    if image is None:
        hits = searcher.search(text=text, modify=modify, where=where, k=k, hybrid=not no_hybrid)
        _print_hits(hits, shown, json_out)
        return 0
    groups = searcher.search_photo(str(image), item=item, modify=modify, where=where, k=k, parser=parser)
    if len(groups) == 1 and (groups[0].garment is None or item is not None):
        if groups[0].garment is not None and not json_out:
            console.print(f"garment {_label(groups[0])} of {escape(str(image))}", highlight=False)
        _print_hits(groups[0].hits, shown, json_out)
    elif json_out:
        print_json({"photo": str(image), "garments": [g.to_dict() for g in groups]})
    else:
        for g in groups:
            console.print(f"[bold]garment {escape(_label(g))}[/]", highlight=False)
            _print_hits(g.hits, shown, False)
    return 0


def _label(group) -> str:
    return f"{group.garment}: {group.category} ({','.join(map(str, group.box))})"


def _print_hits(hits, shown: tuple[str, ...], json_out: bool) -> None:
    """Hits as JSON, a table, or one per line on a narrow terminal; a garment's box beside its photo."""
    if json_out:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        console.print("no results")
        return
    if console.width < MIN_TABLE_WIDTH:  # too narrow for the table: one hit per line, its path below
        for h in hits:
            attrs = " ".join(str(v) for f in shown if (v := h.attributes.get(f)))
            console.print(f"[bold]{h.id}[/] {h.score:.3f} {escape(attrs)}", highlight=False)
            console.print(f"  {escape(item_place(h.path, h.box))}", soft_wrap=True, highlight=False)
        return
    table = Table(Column("id", no_wrap=True), "score", *shown, path_column())  # best first
    for h in hits:
        attrs = [str(h.attributes.get(f) or "") for f in shown]
        table.add_row(str(h.id), f"{h.score:.3f}", *attrs, escape(item_place(h.path, h.box)))
    console.print(table)
