"""Outfits over the catalog: score a set of items, complete a look, what goes with one item."""

# no `from __future__ import annotations`: FastAPI reads these annotations, built from the settings
from typing import Any

from fastapi import APIRouter, Depends

from vestis.serve.context import Context
from vestis.serve.routes.catalog_routes import ERRORS


def router(ctx: Context) -> APIRouter:
    service, T = ctx.service, ctx.types
    api = APIRouter(
        prefix="/api/outfits", tags=["outfits"], dependencies=[Depends(ctx.read_auth())], responses=ERRORS
    )

    def score(ids: list[int]) -> dict[str, Any]:
        from vestis.outfits.complete import score_outfit

        scorer = service.scorer
        result = score_outfit(service.catalog, ids, scorer).to_dict()
        a, b, weakest = result.pop("weakest_pair")
        return {"scorer": scorer.name, **result, "weakest_pair": {"items": [a, b], "score": weakest}}

    def complete(ids: list[int], slots, k: int, where, diversity: float) -> dict[str, Any]:
        from vestis.outfits.complete import complete_outfit

        scorer = service.scorer
        found = complete_outfit(
            service.catalog, ids, scorer, slots=slots, k=k, where=where, diversity=diversity
        )
        return {
            "scorer": scorer.name,
            "slots": {slot: [ctx.suggestion(x) for x in v] for slot, v in found.items()},
        }

    @api.post(
        "/score", response_model=T.OutfitScore, summary="Compatibility of a set of items (higher = better)."
    )
    async def score_route(body: T.ScoreRequest) -> dict[str, Any]:  # type: ignore[name-defined]
        return await service.call(score, body.items)

    @api.post(
        "/complete",
        response_model=T.Completion,
        summary="For each missing slot, the items that best complete the look.",
    )
    async def complete_route(body: T.CompleteRequest) -> dict[str, Any]:  # type: ignore[name-defined]
        slots = [x.strip() for x in body.slots if x.strip()] if body.slots else None
        return await service.call(complete, body.items, slots or None, body.k, body.where, body.diversity)

    @api.post(
        "/complement",
        response_model=T.Completion,
        summary="Items of the other main categories that go with one item.",
    )
    async def complement_route(body: T.ComplementRequest) -> dict[str, Any]:  # type: ignore[name-defined]
        return await service.call(complete, [body.item], None, body.k, body.where, body.diversity)

    return api


__all__ = ["router"]
