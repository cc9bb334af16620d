"""The HTTP service: ``create_app(settings)`` builds the FastAPI app over one catalog.

Routes (all JSON unless said; the OpenAPI document is at ``/openapi.json``, the docs at ``/docs``):

==================================  =================================================================
``GET /``                           the web page (search, facets, photo upload, outfit builder)
``GET /health``, ``GET /ready``     alive; models loaded and catalog open (503 until then)
``GET /metrics``                    request counts and latencies, Prometheus text format
``GET /api/info``                   schema fields, facet fields, parsers, limits
``GET /api/schema``                 the attribute schema as JSON Schema
``POST /api/extract``               attributes of an uploaded photo (or several photos of one item)
``GET /api/search``                 text search (no text: a listing), filters, paging
``POST /api/search/image``          search by an uploaded photo, optionally modified ("but in black")
``GET /api/items/{id}``             an item; ``/thumbnail``, ``/image``; ``/similar`` (more like this)
``GET /api/facets``                 value counts per field over the items matching a filter
``POST /api/outfits/score``         compatibility of a set of items; ``/complete``, ``/complement``
``POST /api/items``                 ingest uploaded photos (bearer token)
``DELETE /api/items/{id}``          delete an item (bearer token)
==================================  =================================================================

>>> from vestis.serve import ServeSettings, create_app  # doctest: +SKIP
>>> app = create_app(ServeSettings(catalog="runs/demo/example-catalog", read_only=True))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from vestis.errors import UserError
from vestis.serve.api_types import Problem, build_types
from vestis.serve.context import Context
from vestis.serve.guards import RequestError
from vestis.serve.metrics import Metrics
from vestis.serve.routes import catalog_routes, extract_routes, outfit_routes, write_routes
from vestis.serve.runtime import Busy, Service
from vestis.serve.settings import ServeSettings, check_startable, load_settings

log = logging.getLogger(__name__)
SETTINGS_ENV = "VESTIS_SERVE_SETTINGS"  # JSON handed from `vestis serve` to its worker processes
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def create_app(settings: ServeSettings) -> FastAPI:
    """The service for ``settings.catalog``; refuses to build writable without a token."""
    check_startable(settings)
    metrics = Metrics()
    service = Service(settings, metrics)
    types = build_types(service.schema, settings.max_k, max_filter_chars=2000)
    ctx = Context(settings, service, types)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = [asyncio.create_task(service.call(service.load, write=True))]
        if not settings.read_only:
            tasks.append(asyncio.create_task(ctx.resume_uploads()))
        for task in tasks:
            task.add_done_callback(_log_failure)
        app.state.startup = tasks
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await service.close()

    app = FastAPI(
        title=f"vestis: {service.schema.name} catalog",
        version=_version(),
        description="Garment attributes, catalog search and outfits over one vestis catalog.",
        lifespan=lifespan,
        responses={422: {"model": Problem, "description": "A parameter or body field is invalid."}},
    )
    app.state.service = service
    app.state.context = ctx
    _error_handlers(app)
    _plain_routes(app, ctx, metrics)
    # bodies: JSON up to max_json_bytes; the upload routes set their own, larger limit
    for module in (catalog_routes, extract_routes, outfit_routes):
        app.include_router(module.router(ctx), max_body_size=settings.max_json_bytes)
    if not settings.read_only:
        app.include_router(write_routes.router(ctx), max_body_size=settings.max_json_bytes)
    static = resources.files("vestis.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    limits = {"json": settings.max_json_bytes, "upload": ctx.upload_body_bytes}
    app.add_middleware(_ServiceMiddleware, metrics=metrics, limits=limits)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def create_app_from_env() -> FastAPI:
    """The app of a worker process started by ``vestis serve --workers N`` (settings from the environment)."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise RuntimeError(f"{SETTINGS_ENV} is not set: start workers through `vestis serve`")
    return create_app(load_settings(overrides=json.loads(raw), environ={**os.environ}))


def _log_failure(task: asyncio.Task) -> None:
    """A start-up task that failed (loading the models, resuming uploads) is logged, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("start-up task failed", exc_info=task.exception())


def _version() -> str:
    import vestis

    return vestis.__version__


def _plain_routes(app: FastAPI, ctx: Context, metrics: Metrics) -> None:
    page = resources.files("vestis.serve") / "static" / "index.html"

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(page), media_type="text/html", headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/health", tags=["service"], summary="The process answers.")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["service"],
        summary="Models loaded and catalog open.",
        responses={503: {"model": Problem, "description": "Still loading."}},
    )
    async def ready() -> Any:
        if not ctx.service.ready:
            return JSONResponse(
                {"detail": "loading the models"}, status_code=503, headers={"Retry-After": "2"}
            )
        return {"status": "ready", "items": await asyncio.to_thread(ctx.service.catalog.store.count)}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics.", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        items = await asyncio.to_thread(ctx.service.catalog.store.count)
        text = metrics.render(waiting=ctx.service.waiting, items=items)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def _error_handlers(app: FastAPI) -> None:
    def problem(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return problem(exc.status, str(exc))

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return problem(400, " ".join(str(exc).split()))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return problem(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, validation_message(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def validation_message(errors: Any) -> str:
    """FastAPI's validation errors as one line: ``query.k: Input should be ...; body.items: ...``."""
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body" or len(err.get("loc", ())) == 1)
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class _ServiceMiddleware:
    """Counts and times every request (by route template), sets the security headers, and gives the
    413 of a body over its limit (Starlette answers it in plain text) the service's JSON shape."""

    def __init__(self, app: Any, metrics: Metrics, limits: dict[str, int]) -> None:
        self.app = app
        self.metrics = metrics
        self.limits = limits  # "json" and "upload" body limits, for the 413 message

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        rewriting = False

        async def send_with_headers(message):
            nonlocal status, rewriting
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                if status == 413 and (b"content-type", b"text/plain; charset=utf-8") in headers:
                    rewriting = True  # Starlette's plain "Content Too Large": send ours instead
                    return
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if not any(k.lower() == b"x-frame-options" for k, _ in headers):
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            elif rewriting:
                if not message.get("more_body"):
                    await self._too_large(scope, send)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or (
                "/static" if scope["path"].startswith("/static") else "other"
            )
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - start)

    async def _too_large(self, scope, send) -> None:
        kind = dict(scope.get("headers") or []).get(b"content-type", b"")
        limit = self.limits["upload" if kind.startswith(b"multipart/") else "json"]
        body = json.dumps({"detail": f"request body too large: the limit here is {limit} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["SETTINGS_ENV", "create_app", "create_app_from_env"]
