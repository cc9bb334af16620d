"""What every route needs: the settings, the service, the API types, and the shared request steps
(the bearer token, reading uploaded photos, turning library results into API bodies)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import Header, HTTPException, UploadFile
from starlette.concurrency import run_in_threadpool

from vestis.catalog.uploads import UploadFolder
from vestis.serve.guards import RequestError, bearer, check_photo, decode_photo, token_matches
from vestis.serve.runtime import Service
from vestis.serve.settings import ServeSettings

log = logging.getLogger(__name__)
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="vestis"'}


class Context:
    def __init__(self, settings: ServeSettings, service: Service, types: SimpleNamespace) -> None:
        self.settings = settings
        self.service = service
        self.types = types
        self.uploads = UploadFolder(service.catalog.directory)

    # ---- auth ---------------------------------------------------------------------------
    def check_token(self, authorization: str | None) -> None:
        expected = self.settings.token
        if expected is None:  # a read-only server without a token: reads are open
            return
        if not token_matches(bearer(authorization), expected):
            message = "missing bearer token" if not authorization else "wrong bearer token"
            raise HTTPException(401, f"{message}: send 'Authorization: Bearer <token>'", headers=UNAUTHORIZED)

    def write_auth(self):
        """A dependency: the request carries the write token."""

        async def dependency(authorization: str | None = Header(None, include_in_schema=False)) -> None:
            self.check_token(authorization)

        return dependency

    def read_auth(self):
        """A dependency: the token, when ``protect_reads`` is set."""

        async def dependency(authorization: str | None = Header(None, include_in_schema=False)) -> None:
            if self.settings.protect_reads:
                self.check_token(authorization)

        return dependency

    # ---- uploads ------------------------------------------------------------------------
    @property
    def upload_body_bytes(self) -> int:
        from vestis.serve.guards import MULTIPART_OVERHEAD

        return self.settings.max_photos * self.settings.max_upload_bytes + MULTIPART_OVERHEAD

    @property
    def form_limits(self) -> dict[str, int]:
        from vestis.serve.guards import FORM_FIELD_BYTES

        return {"max_files": self.settings.max_photos, "max_fields": 16, "max_part_size": FORM_FIELD_BYTES}

    async def read_photos(self, files: list[UploadFile]) -> list[tuple[str, str, bytes]]:
        """``(name, sniffed format, bytes)`` of uploaded photos, each checked for size and type."""
        if not files:
            raise RequestError(400, "no photo uploaded")
        if len(files) > self.settings.max_photos:
            raise RequestError(413, f"{len(files)} photos; the limit is {self.settings.max_photos}")
        out = []
        limit = self.settings.max_upload_bytes
        for n, upload in enumerate(files, 1):
            name = f"photo {n}" + (f" ({upload.filename})" if upload.filename else "")
            data = await upload.read(limit + 1)
            out.append((name, check_photo(data, name, limit), data))
        return out

    async def decode(self, photos: list[tuple[str, str, bytes]]) -> list[Any]:
        """The photos decoded as RGB (pixel limit checked before decoding), off the event loop."""
        s = self.settings
        return [
            await run_in_threadpool(decode_photo, data, name, s.max_pixels, s.max_upload_bytes)
            for name, _, data in photos
        ]

    async def resume_uploads(self) -> None:
        """Ingest the accepted uploads a killed server had not finished (:mod:`vestis.catalog.uploads`)."""
        removed = await run_in_threadpool(self.uploads.clean_unfinished)
        if removed:
            log.warning("deleted %d unfinished upload folders (their requests were never answered)", removed)
        for folder in await run_in_threadpool(self.uploads.pending):
            log.warning("resuming the ingest of %s", folder)
            await self.service.call(self.ingest_folder, folder, write=True)

    def ingest_folder(self, folder: Path) -> tuple[Any, list[int]]:
        """Ingest one accepted upload folder (on the model pool, holding the catalog for writing)."""
        return self.uploads.ingest(self.service.catalog, folder)

    # ---- library results → API bodies ---------------------------------------------------
    @staticmethod
    def name(path: str, meta: dict[str, Any]) -> str:
        """What an item is called: its id in its source (a path under its folder), else its file name."""
        key = meta.get("id")
        return str(key) if key else Path(path).name

    def hit(self, h: Any) -> dict[str, Any]:
        return {
            "id": h.id,
            "score": round(h.score, 4),
            "similarity": round(h.similarity, 4),
            "agreement": round(h.agreement, 3),
            "name": self.name(h.path, h.meta),
            "attributes": h.attributes,
            "meta": h.meta,
            "thumbnail": f"/api/items/{h.id}/thumbnail",
        }

    def item(self, it: Any) -> dict[str, Any]:
        return {
            "id": it.id,
            "name": self.name(it.path, it.meta),
            "added_at": it.added_at,
            "source": Path(it.source).name if it.source else "",
            "attributes": it.attributes,
            "confidence": {k: round(v, 4) for k, v in it.confidence.items()},
            "meta": it.meta,
            "thumbnail": f"/api/items/{it.id}/thumbnail",
            "image": f"/api/items/{it.id}/image",
        }

    def suggestion(self, s: Any) -> dict[str, Any]:
        return {
            "id": s.id,
            "score": round(s.score, 4),
            "name": Path(s.path).name if s.path else str(s.id),
            "attributes": s.attributes,
            "thumbnail": f"/api/items/{s.id}/thumbnail",
        }

    def page(self, hits: list[Any], offset: int, k: int, total: int | None = None) -> dict[str, Any]:
        """One page: ``hits`` holds up to ``offset + k + 1`` ranked hits, or just the page with ``total``."""
        if total is None:
            more = len(hits) > offset + k
            shown = hits[offset : offset + k]
        else:
            more = offset + k < total
            shown = hits
        deeper = offset + k < self.settings.max_results
        return {
            "hits": [self.hit(h) for h in shown],
            "offset": offset,
            "k": k,
            "next_offset": offset + k if more and deeper else None,
            "total": total,
        }

    def check_depth(self, offset: int, k: int) -> None:
        if offset + k > self.settings.max_results:
            raise RequestError(
                400,
                f"offset + k = {offset + k} is past the deepest result served ({self.settings.max_results})",
            )


__all__ = ["Context"]
