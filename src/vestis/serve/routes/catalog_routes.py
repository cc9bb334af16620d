"""Reading the catalog: info, schema, search (text, photo, photo + modification, more like this),
items with their thumbnails and photos, facets."""

# no `from __future__ import annotations`: FastAPI reads these annotations, built from the settings
import os
import stat
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import FileResponse, Response

from vestis.search.searcher import Query as SearchQuery
from vestis.serve.api_types import MAX_ID, TEXT_CHARS, Problem
from vestis.serve.context import Context
from vestis.serve.guards import RequestError, sniff
from vestis.serve.runtime import SearchJob

FILTER_CHARS = 2000
FACET_VALUES = 200
ERRORS = {
    400: {"model": Problem, "description": "A query, filter or photo the service refuses."},
    404: {"model": Problem, "description": "No such item."},
    413: {"model": Problem, "description": "A photo or body over its limit."},
    415: {"model": Problem, "description": "An upload that is not an image."},
    503: {"model": Problem, "description": "The models are busy; retry."},
}


def router(ctx: Context) -> APIRouter:
    s, service, T = ctx.settings, ctx.service, ctx.types
    api = APIRouter(
        prefix="/api", tags=["catalog"], dependencies=[Depends(ctx.read_auth())], responses=ERRORS
    )
    ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="A catalog item id.")]
    Where = Annotated[
        str | None, Query(max_length=FILTER_CHARS, description="Filter, e.g. `category = dress`.")
    ]
    K = Annotated[int, Query(ge=1, le=s.max_k, description="Results per page.")]
    Offset = Annotated[int, Query(ge=0, le=s.max_results, description="Results to skip (paging).")]
    Modify = Annotated[
        str | None, Query(max_length=TEXT_CHARS, description='The change, e.g. "but in black".')
    ]

    def stored(item_id: int):
        found = service.catalog.store.get([item_id])
        if not found:
            raise RequestError(404, f"no item {item_id} in the catalog")
        return found[0]

    @api.get(
        "/info", response_model=T.Info, summary="What this service serves: schema fields, facets, limits."
    )
    async def info() -> dict[str, Any]:
        schema = service.schema
        category = schema.by_role("category")
        return {
            "schema_name": schema.name,
            "fields": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "values": list(f.values),
                    "closed": f.closed,
                    "description": f.description or None,
                }
                for f in schema.fields.values()
            ],
            "listing": list(schema.roles.listing),
            "facet_fields": facet_fields(schema),
            "category_field": category.name if category is not None else None,
            "parsers": service.parsers,
            "read_only": s.read_only,
            "protect_reads": s.protect_reads,
            "items": await service.call(service.catalog.store.count),
            "limits": {
                "max_k": s.max_k,
                "max_results": s.max_results,
                "max_photos": s.max_photos,
                "max_upload_bytes": s.max_upload_bytes,
                "max_pixels": s.max_pixels,
            },
        }

    @api.get("/schema", summary="The attribute schema as JSON Schema (what every `attributes` holds).")
    async def attribute_schema() -> dict[str, Any]:
        return service.schema.json_schema()

    @api.get("/search", response_model=T.Page, summary="Search by text; without text, list the items.")
    async def search(
        q: Annotated[str | None, Query(max_length=TEXT_CHARS, description="Text query.")] = None,
        where: Where = None,
        k: K = 24,
        offset: Offset = 0,
        hybrid: Annotated[bool, Query(description="Re-rank by the attributes the text names.")] = True,
    ) -> dict[str, Any]:
        ctx.check_depth(offset, k)
        if q is None or not q.strip():
            total, hits = await service.call(service.searcher.browse, where=where, k=k, offset=offset)
            return ctx.page(hits, offset, k, total)
        hits = await service.search(SearchJob(SearchQuery(text=q), where, offset + k + 1, hybrid))
        return ctx.page(hits, offset, k)

    @api.post(
        "/search/image",
        response_model=T.Page,
        summary="Search by an uploaded photo, optionally modified.",
        max_body_size=ctx.upload_body_bytes,
        form_limits=ctx.form_limits,
    )
    async def search_image(
        photo: Annotated[UploadFile, File(description="The query photo.")],
        modify: Annotated[str | None, Form(max_length=TEXT_CHARS, description='e.g. "but in black"')] = None,
        where: Where = None,
        k: K = 24,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        ctx.check_depth(offset, k)
        (image,) = await ctx.decode(await ctx.read_photos([photo]))
        query = SearchQuery(image=image, modify=(modify or "").strip() or None)
        hits = await service.search(SearchJob(query, where, offset + k + 1))
        return ctx.page(hits, offset, k)

    @api.get("/items/{item_id}", response_model=T.Item, summary="One item: attributes, confidence, metadata.")
    async def item(item_id: ItemId) -> dict[str, Any]:
        return ctx.item(await service.call(stored, item_id))

    @api.get(
        "/items/{item_id}/similar",
        response_model=T.Page,
        summary='More like this item, optionally modified ("but in black").',
    )
    async def similar(
        item_id: ItemId, modify: Modify = None, where: Where = None, k: K = 24, offset: Offset = 0
    ) -> dict[str, Any]:
        ctx.check_depth(offset, k)
        await service.call(stored, item_id)
        query = SearchQuery(item=item_id, modify=(modify or "").strip() or None)
        hits = await service.search(SearchJob(query, where, offset + k + 1))
        return ctx.page(hits, offset, k)

    @api.get(
        "/items/{item_id}/thumbnail",
        response_class=Response,
        summary="The item's thumbnail (JPEG).",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def thumbnail(item_id: ItemId) -> Response:
        it = await service.call(stored, item_id)
        if not it.thumbnail:
            raise RequestError(404, f"item {item_id} has no thumbnail")
        return Response(it.thumbnail, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @api.get(
        "/items/{item_id}/image",
        response_class=FileResponse,
        summary="The item's original photo, while its file is still where it was ingested from.",
        responses={200: {"content": {"image/*": {}}}},
    )
    async def image(item_id: ItemId) -> FileResponse:
        it = await service.call(stored, item_id)
        media = await service.call(_photo_type, it.path)
        if media is None:
            raise RequestError(404, f"the photo of item {item_id} is no longer at its path")
        return FileResponse(it.path, media_type=media, headers={"Cache-Control": "max-age=3600"})

    @api.get(
        "/facets", response_model=T.Facets, summary="Value counts per field over the items matching a filter."
    )
    async def facets(
        where: Where = None,
        field: Annotated[
            list[str] | None,
            Query(max_length=32, description="Fields to count (default: the listing's closed fields)."),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=FACET_VALUES, description="Values per field, most frequent first.")
        ] = 20,
    ) -> dict[str, Any]:
        return await service.call(_facets, service, where, field, limit)

    return api


def facet_fields(schema) -> list[str]:
    """The closed fields of the schema's listing role (what the page offers as filters)."""
    return [name for name in schema.roles.listing if schema.fields[name].closed]


def _facets(service, where: str | None, fields: list[str] | None, limit: int) -> dict[str, Any]:
    from vestis.schema.filters import parse_filter

    schema = service.schema
    names = []
    for raw in fields or facet_fields(schema):
        name = schema.field_name(raw)
        if name is None:
            raise RequestError(400, f"unknown field {raw!r}; the schema has {', '.join(schema.fields)}")
        names.append(name)
    expr = parse_filter(where, schema) if where else None
    store = service.catalog.store
    return {
        "total": store.count(expr),
        "facets": {
            name: [{"value": v, "count": n} for v, n in store.facets(name, expr)[:limit]] for name in names
        },
    }


def _photo_type(path: str) -> str | None:
    """The media type of the image file at ``path``, or None when it is gone or not a regular image file."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    from vestis.serve.guards import SNIFFED_TYPES

    fmt = sniff(head)
    return SNIFFED_TYPES[fmt] if fmt else None


__all__ = ["facet_fields", "router"]
