"""``vestis ingest SOURCE --catalog DIR``: turn images into a searchable catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vestis.cli.common import console, print_json
from vestis.errors import OptionsError


def ingest_cmd(
    source: str = typer.Argument(
        ..., help="A folder of images, a table (CSV/JSONL/Parquet) or a dataset spec."
    ),
    catalog: Path = typer.Option(..., "--catalog", "-c", help="Catalog directory (created if missing)."),
    backend: str = typer.Option("lite", "--backend", "-b", help="Extractor backend (`vestis list`)."),
    schema: str = typer.Option("vestis", "--schema", "-s", help="Attribute schema."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model for the extractor (default: shipped); also the lite embedder's."
    ),
    embedder: str = typer.Option("lite", "--embedder", "-e", help="Embedder backend (`vestis list`)."),
    embedder_model: str = typer.Option(
        None, "--embedder-model", help="Model for the embedder: a directory or hub id (hf-clip)."
    ),
    index: str = typer.Option(
        None,
        "--index",
        help="Vector index backend: faiss, exact or qdrant (default: faiss if installed, else exact).",
    ),
    qdrant_url: str = typer.Option(None, "--qdrant-url", help="Qdrant server URL (with --index qdrant)."),
    parser: str = typer.Option(
        None,
        "--parser",
        help="Finds the items of each photo (`vestis list parsers`): whole (every photo one item) or "
        "lite-parser (a photo of a person gives one item per garment, linked to the photo and its box; "
        "a product shot stays one item). Default: the catalog's (whole for a new one).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per committed batch."),
    engine: str = typer.Option("local", "--engine", help="local, or ray (Ray Data batch inference)."),
    sync: bool = typer.Option(
        False,
        "--sync",
        help="Afterwards make the catalog match SOURCE: delete items whose file is gone or changed "
        "(a changed file is re-ingested), move renamed files' items to their new path.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> int:
    """Extract attributes and embeddings of every image and add them to the catalog.

    Idempotent (an image already in the catalog, by content hash, is skipped), incremental and
    resumable: a killed run loses at most the batch in flight; run the same command again.
    Additive unless --sync: files deleted, changed or renamed in SOURCE leave their old items
    in the catalog. A SOURCE that is missing or holds no image is an error (nothing is created).
    """
    from vestis.catalog.catalog import Catalog, CatalogConfig
    from vestis.catalog.index import default_backend
    from vestis.catalog.ingest import open_source
    from vestis.parse.base import PARSERS
    from vestis.schema import load_schema

    if engine not in ("local", "ray"):
        raise OptionsError(f"unknown engine {engine!r}: local or ray")
    if sync and engine != "local":
        raise OptionsError("--sync runs with the local engine")
    if parser not in (None, "whole") and engine != "local":
        raise OptionsError("--parser runs with the local engine (the ray engine ingests every photo whole)")
    if batch_size < 1:
        raise OptionsError(f"--batch-size must be at least 1, not {batch_size}")
    if parser:
        PARSERS.get(parser)  # an unknown name fails before anything is written
    dataset = open_source(source, load_schema(schema))  # before anything is written
    config = CatalogConfig.with_models(
        schema=schema,
        extractor=backend,
        model=model,
        embedder=embedder,
        embedder_model=embedder_model,
        index=index or default_backend(),
        index_options={"url": qdrant_url} if qdrant_url else {},
        parser=parser or "whole",
    )
    cat = Catalog.create(catalog, config)
    if engine == "ray":
        from vestis.catalog.ray_engine import ingest_ray

        summary = ingest_ray(cat, source, batch_size=batch_size)
    else:
        from vestis.catalog.ingest import ingest

        summary = ingest(cat, source, batch_size=batch_size, sync=sync, dataset=dataset, parser=parser)
    data = summary.to_dict()
    if json_out:
        print_json(data)
    else:
        table = Table("", "count", title=f"ingest into {catalog}")
        for key in ("seen", "added", "duplicates", "skipped") + (("removed", "moved") if sync else ()):
            table.add_row(key, str(data[key]))
        if data["people"]:
            table.add_row("photos of people", f"{data['people']} ({data['garments']} garments, each an item)")
        table.add_row("rate", f"{data['images_per_s']} images/s")
        console.print(table)
        for reason, n in data["skip_reasons"].items():
            console.print(f"  skipped {n} × {reason}")
        console.print(f"catalog now holds {cat.store.count()} items")
    return 0
