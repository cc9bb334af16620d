"""The HTTP service and web page over a catalog (``pip install 'vestis[serve]'``; ``vestis serve``).

Only this package imports the web stack; it is a thin shell over the library's calls (search,
extraction, outfits, ingest). :func:`create_app` builds the FastAPI app from
:class:`ServeSettings`.

>>> from vestis.serve import ServeSettings, create_app  # doctest: +SKIP
>>> app = create_app(ServeSettings(catalog="runs/demo/example-catalog", read_only=True))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vestis.serve.settings import ServeSettings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: ServeSettings) -> FastAPI:
    """The FastAPI app for ``settings`` (see :mod:`vestis.serve.app`)."""
    from vestis.errors import require

    require("fastapi", "serve", "the HTTP service")
    require("python_multipart", "serve", "photo uploads")
    from vestis.serve.app import create_app as build

    return build(settings)


__all__ = ["ServeSettings", "create_app", "load_settings"]
