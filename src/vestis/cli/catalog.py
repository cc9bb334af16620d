"""``vestis catalog stats|dedup|check``: what a catalog holds, its near-duplicates, and whether a crash
left it damaged."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from vestis.catalog.dedup import DEFAULT_THRESHOLD
from vestis.cli.common import console, item_place, path_column, print_json

app = typer.Typer(help="Inspect and maintain catalogs.", no_args_is_help=True)


@app.command("stats")
def stats_cmd(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Item count, index size, the photos they come from and the facets of the main attributes."""
    from vestis.catalog.catalog import Catalog

    cat = Catalog.open(catalog)
    index = cat.index
    data = {
        "items": cat.store.count(),
        "indexed": len(index) if index is not None else 0,
        **cat.store.photo_counts(),  # photos; people: photos of people; garments: their items
        "index": cat.config.index,
        "schema": cat.config.schema,
        "facets": {f: cat.store.facets(f)[:8] for f in _facet_fields(cat.schema)},
    }
    if json_out:
        print_json(data)
        return
    console.print(
        f"{data['items']} items, {data['indexed']} indexed ({data['index']}), schema {data['schema']}"
    )
    if data["garments"]:
        console.print(
            f"from {data['photos']} photos: {data['people']} of people gave {data['garments']} garment items"
        )
    table = Table("field", "top values")
    for name, values in data["facets"].items():
        table.add_row(name, ", ".join(f"{v} ({n})" for v, n in values))
    console.print(table)


def _facet_fields(schema) -> list[str]:
    """The closed fields of the schema's listing role: what stats count values of."""
    return [name for name in schema.roles.listing if schema.fields[name].closed]


@app.command("dedup")
def dedup_cmd(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    min_similarity: float = typer.Option(
        DEFAULT_THRESHOLD, "--min-similarity", help="Cosine similarity at or above which items pair."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List groups of near-duplicate items (resized, recompressed or re-shot copies)."""
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.dedup import catalog_duplicates

    found = catalog_duplicates(Catalog.open(catalog), min_similarity)
    if json_out:
        print_json(found.groups)
        return
    if not found.items:
        console.print("the catalog is empty")
        return
    console.print(
        f"{len(found.groups)} groups of near-duplicates among {found.items} items "
        f"(similarity ≥ {min_similarity})"
    )
    for n, group in enumerate(found.groups[:50], 1):
        places = (f"#{x['id']} {escape(item_place(x['path'], x.get('box')))}" for x in group)
        console.print(f"[bold]{n}[/] " + "  ".join(places))


@app.command("check")
def check_cmd(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Rebuild the index, remake thumbnails, finish or clear uploads (never rewrites the database).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> int:
    """Check the database, vector index, thumbnails and uploads of a catalog (after a crash, say);
    exit 1 when errors remain."""
    from vestis.catalog.check import check_catalog

    report = check_catalog(catalog, repair=repair)
    if json_out:
        print_json(report.to_dict())
        return 0 if report.ok else 1
    if report.findings:
        table = Table("part", "severity", "count", path_column("finding"), "state")
        for f in report.findings:
            colour = "red" if f.severity == "error" else "yellow"
            table.add_row(
                f.part, f"[{colour}]{f.severity}[/]", str(f.count), escape(f.message), _state(f, repair)
            )
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]{escape(note)}[/]")
    colour = "green" if report.ok else "red"
    console.print(f"[bold {colour}]{escape(report.verdict())}[/] in {report.seconds:.1f} s", highlight=False)
    return 0 if report.ok else 1


def _state(finding, repair: bool) -> str:
    if finding.repaired:
        return "[green]repaired[/]"
    if finding.repairable and not repair:
        return "--repair fixes"
    return "[red]needs you[/]" if finding.severity == "error" else ""
