"""The write endpoints (bearer token): ingest uploaded photos, delete an item. Not on a read-only server."""

# no `from __future__ import annotations`: FastAPI reads these annotations, built from the settings
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, UploadFile
from starlette.concurrency import run_in_threadpool

from vestis.serve.api_types import MAX_ID, Problem
from vestis.serve.context import Context
from vestis.serve.guards import RequestError
from vestis.serve.routes.catalog_routes import ERRORS


def router(ctx: Context) -> APIRouter:
    service, T = ctx.service, ctx.types
    responses = {**ERRORS, 401: {"model": Problem, "description": "No or a wrong bearer token."}}
    api = APIRouter(
        prefix="/api", tags=["write"], dependencies=[Depends(ctx.write_auth())], responses=responses
    )

    @api.post(
        "/items",
        response_model=T.IngestResult,
        status_code=201,
        summary="Add uploaded photos to the catalog (one item each; photos already in it are duplicates).",
        max_body_size=ctx.upload_body_bytes,
        form_limits=ctx.form_limits,
    )
    async def ingest(
        photos: Annotated[list[UploadFile], File(description="Photos, one item each.")],
    ) -> dict[str, Any]:
        checked = await ctx.read_photos(photos)
        await ctx.decode(checked)  # a photo the library would skip (a bomb, a broken file) is refused here
        named = [(upload.filename, fmt, data) for upload, (_, fmt, data) in zip(photos, checked, strict=True)]
        folder = await run_in_threadpool(ctx.uploads.stage, named)
        summary, ids = await service.call(ctx.ingest_folder, folder, write=True)
        data = summary.to_dict()
        return {
            "added": data["added"],
            "duplicates": data["duplicates"],
            "skipped": data["skipped"],
            "skip_reasons": data["skip_reasons"],
            "ids": ids,
            "items": await service.call(service.catalog.store.count),
        }

    @api.delete(
        "/items/{item_id}", response_model=T.Removed, summary="Delete an item from the catalog and its index."
    )
    async def delete(item_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, int]:
        removed = await service.call(_remove, service.catalog, item_id, write=True)
        if not removed:
            raise RequestError(404, f"no item {item_id} in the catalog")
        return {"removed": removed}

    return api


def _remove(catalog, item_id: int) -> int:
    removed = catalog.remove_items([item_id])
    if removed:
        catalog.save_index()
    return removed


__all__ = ["router"]
