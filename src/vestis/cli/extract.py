"""``vestis extract IMAGE_OR_DIR...``: attributes of garment photos as schema-valid JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from vestis.cli.common import err_console, parse_overrides, print_json
from vestis.data.photos import image_files, parse_item, photos_by_item
from vestis.errors import InputError
from vestis.extract.base import create_extractor
from vestis.extract.items import ItemExtractor, extract_chunk
from vestis.progress import progress_bar
from vestis.schema import load_schema


def extract_cmd(
    paths: list[Path] = typer.Argument(None, help="Image files and/or directories (searched recursively)."),
    item: list[str] = typer.Option(
        [],
        "--item",
        help="Photos of ONE item, comma-separated (front.jpg,back.jpg,label.jpg); repeatable.",
    ),
    items: bool = typer.Option(
        False, "--items", help="In each directory given, every sub-folder holds the photos of one item."
    ),
    schema: str = typer.Option("vestis", "--schema", "-s", help="Schema preset or file."),
    backend: str = typer.Option("lite", "--backend", "-b", help="Extractor backend."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model directory for the backend (default: shipped)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write JSONL here instead of stdout."),
    threshold: float = typer.Option(
        None, "--threshold", help="Null threshold for every field (default: model's)."
    ),
    confidence: bool = typer.Option(False, "--confidence", help="Include per-field confidence."),
    set_: list[str] = typer.Option(
        [], "--set", help="Backend option, e.g. --set runtime=onnx --set zero_shot=all."
    ),
    parser: str = typer.Option(
        "whole",
        "--parser",
        help="Finds the items of each photo (`vestis list parsers`): whole (every photo one item) or "
        "lite-parser (photos of people: one item per garment; a product shot stays one item; opt-in "
        "because it adds a 320 px pass per photo, see docs/benchmarks.md).",
    ),
) -> int:
    """Extract attributes. One image prints one JSON object; several print JSONL (one line per image).

    Several photos of one item (front, back, care label) give one record: with --item, or with
    --items for folders of one sub-folder per item. Backends that read several photos at once
    (openai, vlm) see them together; others answer from the first photo, the later ones filling
    what it leaves null. A single photo is first parsed into its items: a product shot is one
    item; a photo of a person gives one entry per garment in "items" (box, area, attributes), and
    "attributes" describes the garment covering most of the photo.

    Every output validates against the schema; an unreadable image yields a line with its error,
    and the command then exits 1 saying how many failed.
    """
    s = load_schema(schema)
    paths = paths or []
    groups = [parse_item(spec) for spec in item]
    groups += photos_by_item(paths) if items else [[f] for f in image_files(paths)]
    if not groups:
        given = ", ".join(map(str, paths)) or "nothing (give image paths, directories or --item)"
        raise InputError(f"no images found in {given}")
    options = {k: v for k, v in {"model": model, "threshold": threshold}.items() if v is not None}
    options.update(parse_overrides(set_))
    extractor = create_extractor(backend, s, **options)
    per_item = ItemExtractor(extractor, parser)
    sink = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115 (closed below)
    failures = 0
    try:
        with progress_bar(transient=True) as bar:
            task = bar.add_task("extracting", total=len(groups))
            for start in range(0, len(groups), 64):
                chunk = groups[start : start + 64]
                results = extract_chunk(extractor, per_item, chunk)
                for photos, res in zip(chunk, results, strict=True):
                    record: dict = {"image": str(photos[0])} if len(photos) == 1 else {}
                    if len(photos) > 1:
                        record["item"] = [str(p) for p in photos]
                    record["attributes"] = res.attributes
                    record.update(res.items_dict())
                    if confidence:
                        record["confidence"] = {k: round(v, 4) for k, v in res.confidence.items()}
                    if res.error:
                        record["error"] = res.error
                        failures += 1
                    if len(groups) == 1 and sink is None:
                        print_json(record)
                    else:
                        line = json.dumps(record, ensure_ascii=False)
                        (sink or sys.stdout).write(line + "\n")
                bar.advance(task, len(chunk))
    finally:
        if sink:
            sink.close()
    if failures:
        err_console.print(f"[yellow]{failures} of {len(groups)} images failed (see 'error' in the output)[/]")
    return 1 if failures else 0
