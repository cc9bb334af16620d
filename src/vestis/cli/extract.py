"""``vestis extract IMAGE_OR_DIR...``: attributes of garment photos as schema-valid JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from vestis.cli.common import err_console, parse_overrides, print_json
from vestis.errors import InputError
from vestis.extract.base import create_extractor
from vestis.images import is_image_path
from vestis.progress import progress_bar
from vestis.schema import load_schema


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, directories walked recursively for images (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and is_image_path(q)))
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"no such file or directory: {p}")
    return out


def extract_cmd(
    paths: list[Path] = typer.Argument(..., help="Image files and/or directories (searched recursively)."),
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
) -> int:
    """Extract attributes. One image prints one JSON object; several print JSONL (one line per image).

    Every output validates against the schema; an unreadable image yields a line with its error,
    and the command then exits 1 saying how many failed.
    """
    s = load_schema(schema)
    files = expand(paths)
    if not files:
        raise InputError(f"no images found in {', '.join(map(str, paths))}")
    options = {k: v for k, v in {"model": model, "threshold": threshold}.items() if v is not None}
    options.update(parse_overrides(set_))
    extractor = create_extractor(backend, s, **options)
    sink = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115 (closed below)
    failures = 0
    try:
        with progress_bar(transient=True) as bar:
            task = bar.add_task("extracting", total=len(files))
            for start in range(0, len(files), 64):
                chunk = files[start : start + 64]
                for path, res in zip(chunk, extractor.extract([str(p) for p in chunk]), strict=False):
                    record = {"image": str(path), "attributes": res.attributes}
                    if confidence:
                        record["confidence"] = {k: round(v, 4) for k, v in res.confidence.items()}
                    if res.error:
                        record["error"] = res.error
                        failures += 1
                    if len(files) == 1 and sink is None:
                        print_json(record)
                    else:
                        line = json.dumps(record, ensure_ascii=False)
                        (sink or sys.stdout).write(line + "\n")
                bar.advance(task, len(chunk))
    finally:
        if sink:
            sink.close()
    if failures:
        err_console.print(f"[yellow]{failures} of {len(files)} images failed (see 'error' in the output)[/]")
    return 1 if failures else 0
