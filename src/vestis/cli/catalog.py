"""``vestis catalog stats|facets``: what a catalog holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vestis.cli.common import console, print_json

app = typer.Typer(help="Inspect and maintain catalogs.", no_args_is_help=True)


@app.command("stats")
def stats_cmd(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Item count, index size and the facets of the main attributes."""
    from vestis.catalog.catalog import Catalog

    cat = Catalog.open(catalog)
    index = cat.index
    data = {
        "items": cat.store.count(),
        "indexed": len(index) if index is not None else 0,
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
    threshold: float = typer.Option(
        0.96, "--threshold", help="Cosine similarity at or above which items pair."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List groups of near-duplicate items (resized, recompressed or re-shot copies)."""
    import numpy as np

    from vestis.catalog.catalog import Catalog
    from vestis.catalog.dedup import clusters, neighbour_pairs

    cat = Catalog.open(catalog)
    ids, vectors = [], []
    for batch_ids, batch_vectors, _ in cat.store.iter_embeddings(batch=4096, payloads=False):
        ids.extend(batch_ids)
        vectors.append(batch_vectors)
    if not ids:
        console.print("the catalog is empty")
        return
    matrix = np.concatenate(vectors)
    groups = clusters(len(ids), neighbour_pairs(matrix, threshold))
    items = {item.id: item for item in cat.store.get([ids[i] for g in groups for i in g])}
    result = [[{"id": ids[i], "path": items[ids[i]].path} for i in g] for g in groups]
    if json_out:
        print_json(result)
        return
    console.print(f"{len(groups)} groups of near-duplicates among {len(ids)} items (threshold {threshold})")
    for n, group in enumerate(result[:50], 1):
        console.print(f"[bold]{n}[/] " + "  ".join(f"#{x['id']} {x['path']}" for x in group))
