"""The ``vestis`` command: a thin shell over library calls, one module per subcommand.

Every command is reachable as ``main(argv) -> int`` so tests call it directly.
Exit codes: 0 success, 1 the work ran but found failures, 2 bad input (unknown
schema, missing dataset, malformed file), 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click
import typer

from vestis.cli import catalog, data, eval, export, extract, ingest, outfits, schema, search, train
from vestis.cli.common import console, err_console
from vestis.data.base import DatasetError
from vestis.registry import UnknownNameError
from vestis.schema import SchemaError

app = typer.Typer(
    name="vestis",
    help="Fashion image understanding: attributes, datasets, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.add_typer(schema.app, name="schema")
app.add_typer(data.app, name="data")
app.add_typer(eval.app, name="eval")
app.add_typer(train.app, name="train")
app.add_typer(export.app, name="export")
app.command("extract")(extract.extract_cmd)
app.command("ingest")(ingest.ingest_cmd)
app.command("search")(search.search_cmd)
app.add_typer(catalog.app, name="catalog")
app.add_typer(outfits.app, name="outfits")

# Errors that mean "the user gave us something wrong": message, exit code 2, no traceback.
USER_ERRORS = (SchemaError, DatasetError, UnknownNameError, FileNotFoundError, ValueError)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(argv) if argv is not None else sys.argv[1:], prog_name="vestis", standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted: completed work is saved; run the same command to resume[/]")
        return 130
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2
    return result if isinstance(result, int) else 0


def run() -> None:  # console-script entry point
    sys.exit(main())


__all__ = ["app", "console", "main", "run"]
