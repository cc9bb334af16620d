"""``vestis serve --catalog DIR``: the HTTP API and web page over a catalog (uvicorn)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import typer

from vestis.cli.common import err_console


def serve_cmd(
    catalog: Path = typer.Option(None, "--catalog", "-c", help="Catalog directory."),
    host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    workers: int = typer.Option(None, "--workers", help="Server processes (default 1)."),
    read_only: bool = typer.Option(None, "--read-only", help="No ingest or delete; no token needed."),
    token_file: Path = typer.Option(
        None, "--token-file", help="File holding the bearer token for writes (else $VESTIS_API_TOKEN)."
    ),
    protect_reads: bool = typer.Option(None, "--protect-reads", help="Reads need the token too."),
    cors_origin: list[str] = typer.Option(
        None, "--cors-origin", help="An origin allowed by CORS (repeatable; none: CORS off)."
    ),
    config: Path = typer.Option(
        None, "--config", help="Settings file (YAML or JSON; see vestis.serve.settings)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> int:
    """Serve the API and the web page over a catalog. Settings: --config file, then VESTIS_SERVE_*
    variables, then these flags. Writes need a bearer token from $VESTIS_API_TOKEN or --token-file;
    without one the server refuses to start unless --read-only."""
    from vestis.errors import require
    from vestis.serve.settings import check_startable, load_settings

    settings = load_settings(
        config,
        overrides={
            "catalog": str(catalog) if catalog else None,
            "host": host,
            "port": port,
            "workers": workers,
            "read_only": read_only,
            "token_file": str(token_file) if token_file else None,
            "protect_reads": protect_reads,
            "cors_origins": list(cors_origin) if cors_origin else None,
        },
    )
    check_startable(settings)
    require("fastapi", "serve", "vestis serve")
    require("uvicorn", "serve", "vestis serve")
    import uvicorn

    from vestis.catalog.catalog import Catalog
    from vestis.serve.app import SETTINGS_ENV

    Catalog.open(settings.catalog).close()  # a missing catalog is a one-line error, before uvicorn starts
    logging.getLogger("vestis").setLevel(logging.INFO)
    mode = "read-only" if settings.read_only else "writable (bearer token)"
    err_console.print(
        f"serving {settings.catalog} ({mode}) on http://{settings.host}:{settings.port}/ "
        f"with {settings.workers} worker(s)",
        highlight=False,
        soft_wrap=True,
    )
    os.environ[SETTINGS_ENV] = json.dumps(settings.public())  # each worker rebuilds its app from it
    uvicorn.run(
        "vestis.serve.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.keep_alive_s,
    )
    return 0
