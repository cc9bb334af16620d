"""``vestis data audit|stats``: what a dataset holds and how its labels map onto a schema."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vestis.cli.common import console, print_json
from vestis.data import open_dataset
from vestis.data.stats import dataset_stats, mapping_source
from vestis.schema import load_schema
from vestis.schema.mapping import Mapping

app = typer.Typer(help="Inspect datasets: label-mapping audit and statistics.", no_args_is_help=True)

DATASET_HELP = "Dataset spec: hm, mango, clothing (under $VESTIS_DATA), KIND:PATH, a folder or a table file."


@app.command("audit")
def audit_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help=DATASET_HELP),
    schema: str = typer.Option("vestis", "--schema", "-s", help="Schema preset or file."),
    mapping: Path = typer.Option(None, "--mapping", help="Mapping file (default: the shipped one)."),
    out: Path = typer.Option(None, "--out", "-o", help="Directory for audit.json and audit.md."),
) -> int:
    """Audit how raw labels map onto a schema: coverage, unmapped labels, class counts, empty values."""
    from vestis.schema.audit import audit_mapping

    s = load_schema(schema)
    ds = open_dataset(dataset, schema=s)
    m = Mapping.load(mapping or mapping_source(ds, dataset), schema=s)
    report = audit_mapping(m, (ex.meta for ex in ds))
    report.render(console)
    if out:
        report.write(out)
        console.print(f"wrote {out / 'audit.json'} and {out / 'audit.md'}")
    return 1 if report.problems else 0


@app.command("stats")
def stats_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help=DATASET_HELP),
    schema: str = typer.Option("vestis", "--schema", "-s", help="Schema preset or file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Counts, split sizes and the most common labels per field."""
    s = load_schema(schema)
    ds = open_dataset(dataset, schema=s)
    stats = dataset_stats(ds, s)
    if json_out:
        print_json(stats)
        return
    console.print(
        f"[bold]{ds.name}[/]: {stats['examples']} examples, train {stats['train']}, "
        f"val {stats['val']}, {stats['groups']} groups, {stats['skipped']} rows skipped"
    )
    table = Table("field", "labelled", "top values")
    for name, info in stats["fields"].items():
        top = ", ".join(f"{v} ({n})" for v, n in info["top"])
        table.add_row(name, f"{info['labelled']}", top)
    console.print(table)
