"""``POST /api/extract``: attributes of uploaded photos (micro-batched across concurrent requests)."""

# no `from __future__ import annotations`: FastAPI reads these annotations, built from the settings
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile

from vestis.serve.context import Context
from vestis.serve.guards import RequestError
from vestis.serve.routes.catalog_routes import ERRORS
from vestis.serve.runtime import ExtractJob


def router(ctx: Context) -> APIRouter:
    service, T = ctx.service, ctx.types
    api = APIRouter(
        prefix="/api", tags=["extract"], dependencies=[Depends(ctx.read_auth())], responses=ERRORS
    )

    @api.post(
        "/extract",
        response_model=T.Extraction,
        response_model_by_alias=True,
        summary="Attributes of one photo (each garment of a photo of a person) or of photos of one item.",
        max_body_size=ctx.upload_body_bytes,
        form_limits=ctx.form_limits,
    )
    async def extract(
        photos: Annotated[
            list[UploadFile],
            File(description="One photo, or several photos of ONE item (front, back, label)."),
        ],
        parser: Annotated[
            str,
            Query(
                max_length=100,
                description=f"How one photo is split into items, one of {', '.join(service.parsers)} "
                "(`whole`: the photo is one item; `lite-parser`: one item per garment worn in a photo "
                "of a person; see /api/info).",
            ),
        ] = "whole",
    ) -> dict[str, Any]:
        if parser not in service.parsers:
            raise RequestError(
                400, f"unknown parser {parser!r}; this server offers {', '.join(service.parsers)}"
            )
        images = await ctx.decode(await ctx.read_photos(photos))
        res = await service.extract(ExtractJob(images, parser))
        one = len(images) == 1
        return {
            "attributes": res.attributes,
            "confidence": {k: round(v, 4) for k, v in res.confidence.items()},
            "kind": res.kind if one else None,
            "items": [item.to_dict() for item in res.items] if one and res.items is not None else None,
            "image_size": list(images[0].size),
            "photos": len(images),
            "error": res.error,
            "seconds": round(res.seconds, 4),
        }

    return api


__all__ = ["router"]
