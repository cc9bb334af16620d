"""The ``vestis`` command: a thin shell over library calls, one module per subcommand.

Every command is reachable as ``main(argv) -> int`` so tests call it directly.

Exit codes: 0 success; 1 the work ran but found failures (some images failed, an audit found
problems) or vestis has a bug (its traceback is printed); 2 the command line or what it
names is wrong (one line, no traceback: a usage error or any :class:`~vestis.errors.UserError`);
130 interrupted.

Flags mean the same thing in every subcommand:

=====================  ==========================================================
``-c/--catalog DIR``   a catalog directory (nothing else is ``-c``)
``-d/--dataset SPEC``  a dataset spec: hm, KIND:PATH, a folder or a table file
``-s/--schema``        a schema preset or file
``-m/--model``         a model directory (nothing else is ``-m``)
``-b/--backend``       an extractor backend; ``-e/--embedder`` an embedder backend
``-o/--out``           the output file or directory
``-k/--k``             results per query; ``-n/--limit`` at most N examples
``-w/--where``         a filter; ``-i/--image`` a query photo
``--set KEY=VALUE``    a backend option or a recipe config field (value parsed as YAML)
``--config FILE``      a recipe config file (``train`` only; no short form)
``--threshold``        a confidence below which a field is null (extract)
``--min-similarity``   a cosine similarity at or above which items are near-duplicates
``--json``             machine-readable output
=====================  ==========================================================

Positional arguments are what a command works on: image paths (extract), a source (ingest),
item ids (outfits), a schema name or file (schema), a kind (list).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

# typer >= 0.26 vendors click (checked against typer 0.29.2): what a bad command line raises
# derives from typer.TyperException; typer.Exit and typer.Abort are its control-flow signals.
# The standalone `click` package is not a dependency and its exceptions are never raised.
import typer
from rich.markup import escape

import vestis
from vestis.cli import (
    catalog,
    data,
    eval,
    export,
    extract,
    ingest,
    listing,
    outfits,
    schema,
    search,
    serve,
    train,
)
from vestis.cli.common import console, err_console
from vestis.errors import UserError

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
app.command("list")(listing.list_cmd)
app.command("serve")(serve.serve_cmd)


def _version(value: bool) -> None:
    if value:
        console.print(f"vestis {vestis.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


INTERRUPTED = 130
INTERRUPTED_MESSAGE = "interrupted: completed work is saved; run the same command to resume"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(argv) if argv is not None else sys.argv[1:], prog_name="vestis", standalone_mode=False
        )
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # a usage error: unknown option, missing argument, bad value
        return _usage_error(exc)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print(f"[yellow]{INTERRUPTED_MESSAGE}[/]")
        return INTERRUPTED
    except UserError as exc:
        message = escape(one_line(str(exc)))
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        return 2
    except Exception:
        traceback.print_exc()
        err_console.print("[bold red]vestis hit a bug[/] (the traceback is above); please report it")
        return 1
    if result == INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130), returned as the result
        err_console.print(f"[yellow]{INTERRUPTED_MESSAGE}[/]")
    return result if isinstance(result, int) else 0


def _usage_error(exc: typer.TyperException) -> int:
    """One line: the message and where help is, never the usage block and a traceback."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group called without a subcommand: its help
        text = exc.format_message()  # empty when typer's rich help has printed it already
        if text.strip():
            err_console.print(text, markup=False, highlight=False)
        return 2
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = " ".join(exc.format_message().split())
    err_console.print(f"error: {message}{hint}", markup=False, highlight=False, soft_wrap=True)
    return 2


def one_line(message: str) -> str:
    """A multi-line message (a YAML parser's, with its caret lines) on one line."""
    lines = [line.strip() for line in message.splitlines()]
    return " ".join(line for line in lines if line and set(line) != {"^"})


def run() -> None:  # console-script entry point
    sys.exit(main())


__all__ = ["app", "console", "main", "run"]
