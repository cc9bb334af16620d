"""``vestis schema list|show|export``: inspect and export attribute schemas."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from vestis.cli.common import console, print_json
from vestis.schema import list_schemas, load_schema
from vestis.schema.pydantic_model import model_source

app = typer.Typer(
    help="List, show and export attribute schemas (presets or your own YAML/JSON file).", no_args_is_help=True
)


class ExportFormat(str, Enum):
    json_schema = "json-schema"
    yaml = "yaml"
    json = "json"
    prompt = "prompt"
    pydantic = "pydantic"


@app.command("list")
def list_cmd() -> None:
    """List the preset schemas shipped with vestis."""
    table = Table("name", "fields", "description")
    for name in list_schemas():
        s = load_schema(name)
        table.add_row(name, str(len(s.fields)), s.description.strip())
    console.print(table)


@app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Preset name or path to a schema file.")) -> None:
    """Show a schema's fields: kind, weight, nullability, roles and vocabulary."""
    s = load_schema(name)
    table = Table(
        "field",
        "kind",
        "weight",
        "null",
        "roles",
        "values / constraint",
        title=f"schema {s.name}",
        show_lines=True,
    )
    for f in s.fields.values():
        if f.kind == "text":
            detail = f"text ≤ {f.max_length} chars" + (f", pattern {f.pattern}" if f.pattern else "")
        else:
            detail = ", ".join(f.values)
        roles = ", ".join(s.roles.of(f.name))
        table.add_row(f.name, f.kind, f"{f.weight:g}", "yes" if f.nullable else "no", roles, detail)
    console.print(table)


@app.command("export")
def export_cmd(
    name: str = typer.Argument(..., help="Preset name or path to a schema file."),
    fmt: ExportFormat = typer.Option(ExportFormat.json_schema, "--format", "-f", help="What to export."),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Export a schema as JSON Schema, YAML/JSON data, the generation prompt, or pydantic source."""
    s = load_schema(name)
    if fmt is ExportFormat.json_schema:
        text = json.dumps(s.json_schema(), indent=2, ensure_ascii=False)
    elif fmt is ExportFormat.json:
        text = json.dumps(s.to_dict(), indent=2, ensure_ascii=False)
    elif fmt is ExportFormat.yaml:
        import yaml

        text = yaml.safe_dump(s.to_dict(), sort_keys=False, allow_unicode=True)
    elif fmt is ExportFormat.prompt:
        text = s.prompt()
    else:
        text = model_source(s)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    elif fmt is ExportFormat.json_schema or fmt is ExportFormat.json:
        print_json(json.loads(text))
    else:
        sys.stdout.write(text + "\n")  # verbatim: rich would wrap long lines
