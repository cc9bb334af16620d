"""``vestis list [KIND]``: what can be named on the command line, with a line about each."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from vestis.cli.common import console, print_json
from vestis.components import KINDS, list_components


def list_cmd(
    kind: str = typer.Argument(None, help=f"Only this kind: {', '.join(KINDS)}."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON ({kind: {name: description}})."),
) -> None:
    """List the extractors, embedders, indexes, datasets, scorers, schemas, recipes and evaluators."""
    components = list_components(kind)
    if json_out:
        print_json(components)
        return
    for name, entries in components.items():
        table = Table("name", "description", title=name, title_justify="left")
        for entry, description in entries.items():
            table.add_row(escape(entry), escape(description))
        if not entries:
            table.add_row("(none)", "")
        console.print(table)
