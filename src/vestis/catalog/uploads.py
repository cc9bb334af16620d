"""Photos uploaded to ``vestis serve`` for ingest: kept in the catalog directory, ingested by the
library's own ingest (here, below the server, so that ``vestis catalog check`` uses the same calls).

Each ingest request's photos are written (and fsynced) to ``<catalog>/uploads/.tmp-<id>/``, the
folder is renamed to ``uploads/<id>/`` (atomic: the request is now accepted), the folder is
ingested with :func:`vestis.catalog.ingest.ingest` (idempotent by content hash, one transaction per
batch), and a ``.done`` marker is written. A server killed at any point loses nothing accepted:
at start it ingests every accepted folder without ``.done`` again (what was committed is a
duplicate and costs nothing), and deletes unfinished ``.tmp-*`` folders, whose requests were never
answered. File names are the server's (a counter, a cleaned stem and the sniffed format), never
a path from the client.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
UPLOADS = "uploads"
DONE = ".done"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp", "tiff": "tif", "webp": "webp"}


def safe_stem(name: str | None, fallback: str) -> str:
    """A file stem made of letters, digits, ``.``, ``_`` and ``-`` only (at most 60), from a client's name.

    >>> safe_stem("../../etc/passwd", "photo"), safe_stem("été 2024.JPG", "photo"), safe_stem(None, "p")
    ('passwd', 't_2024', 'p')
    """
    stem = Path((name or "").replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    stem = _UNSAFE.sub("_", stem).strip("._-")[:60]
    return stem or fallback


class UploadFolder:
    """The ``uploads/`` folder of a catalog."""

    def __init__(self, catalog_dir: str | os.PathLike) -> None:
        self.root = Path(catalog_dir) / UPLOADS

    def stage(self, photos: list[tuple[str | None, str, bytes]]) -> Path:
        """Write ``(client name, sniffed format, bytes)`` photos durably; returns the accepted folder."""
        batch = f"{uuid.uuid4().hex[:16]}"
        tmp = self.root / f".tmp-{batch}"
        tmp.mkdir(parents=True)
        for n, (name, fmt, data) in enumerate(photos):
            path = tmp / f"{n:03d}-{safe_stem(name, 'photo')}.{EXTENSIONS[fmt]}"
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        final = self.root / batch
        os.replace(tmp, final)
        _fsync_dir(self.root)
        return final

    def mark_done(self, folder: Path) -> None:
        (folder / DONE).touch()

    def ingest(self, catalog: Any, folder: Path) -> tuple[Any, list[int]]:
        """Ingest one accepted folder into ``catalog`` with :func:`vestis.catalog.ingest.ingest`, then
        mark it done; returns the ingest summary and the ids of the items the folder holds. What the
        server does for each request and at start, and ``vestis catalog check --repair`` for the
        folders a killed server left."""
        from vestis.catalog.ingest import ingest
        from vestis.images import path_text

        summary = ingest(catalog, str(folder), progress=False)
        held = catalog.store.locations(under=path_text(os.path.abspath(folder)))
        self.mark_done(folder)
        return summary, sorted(i for i, _, _ in held)

    def pending(self) -> list[Path]:
        """Accepted folders not yet wholly ingested (oldest first)."""
        if not self.root.is_dir():
            return []
        folders = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted((p for p in folders if not (p / DONE).exists()), key=lambda p: p.stat().st_mtime)

    def unfinished(self) -> list[Path]:
        """The ``.tmp-*`` folders of requests not (yet) accepted."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(".tmp-"))

    def clean_unfinished(self, older_than_s: float = 0.0) -> int:
        """Delete the ``.tmp-*`` folders of requests that were never accepted (with ``older_than_s``,
        only those untouched for that long: a running server may be writing a younger one); returns
        how many."""
        now = time.time()
        stale = [p for p in self.unfinished() if now - p.stat().st_mtime >= older_than_s]
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)
        return len(stale)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["UploadFolder", "safe_stem"]
