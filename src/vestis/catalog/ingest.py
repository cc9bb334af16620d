"""Ingest: images → attributes + embedding + thumbnail → catalog, idempotent and resumable.

Every file is hashed (SHA-256 of its bytes); a hash already in the catalog is a duplicate and
costs nothing more, so re-running an ingest only processes new files. Each batch is committed
to the database in one transaction, then added to the vector index; a run killed at any
point loses at most the batch in flight, and the next run (or opening the catalog) brings the
index back in line with the database. Unreadable files are recorded with their reason.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.catalog.catalog import Catalog
from vestis.data import Example, open_dataset
from vestis.extract.embed import extract_and_embed
from vestis.images import DEFAULT_MAX_BYTES, ImageLoadError, load_image
from vestis.progress import progress_bar

log = logging.getLogger(__name__)
THUMB_PX = 160


@dataclass
class IngestSummary:
    seen: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, detail)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "added": self.added,
            "duplicates": self.duplicates,
            "skipped": len(self.skipped),
            "seconds": round(self.seconds, 2),
            "images_per_s": round(self.rate, 1),
            "skip_reasons": _count(r for _, r, _ in self.skipped),
        }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def thumbnail(img: Image.Image, size: int = THUMB_PX) -> bytes:
    copy = img.copy()
    copy.thumbnail((size, size))
    buf = io.BytesIO()
    copy.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def read_source(example: Example) -> bytes:
    path = Path(example.image)
    if not path.is_file():
        raise ImageLoadError(str(path), "not_found")
    size = path.stat().st_size
    if size > DEFAULT_MAX_BYTES:
        raise ImageLoadError(str(path), "too_large", f"{size} bytes")
    return path.read_bytes()


def batches(items: Sequence[Example], size: int) -> Iterator[Sequence[Example]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest(
    catalog: Catalog, source: str, batch_size: int = 64, progress: bool = True, save_every: int = 20
) -> IngestSummary:
    """Add every image of ``source`` (a dataset spec, folder or table) to ``catalog``."""
    examples = open_dataset(source, schema=catalog.schema).examples()
    summary = IngestSummary(seen=len(examples))
    store = catalog.store
    catalog.index  # noqa: B018  (loads the index and repairs it if a previous run was killed)
    run_id = store.begin_ingest(source)
    start = time.perf_counter()
    seen_hashes: set[str] = set()
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("ingesting", total=len(examples))
        for n, batch in enumerate(batches(examples, batch_size)):
            blobs = new_files(store, batch, seen_hashes, summary, run_id)
            todo, images = [], []
            for ex, data, digest in blobs:
                try:
                    images.append(load_image(data))
                    todo.append((ex, digest))
                except ImageLoadError as exc:
                    _skip(store, summary, ex, exc, run_id)
            if todo:
                results, vectors = extract_and_embed(catalog.extractor, catalog.embedder, images)
                thumbs = [thumbnail(img) for img in images]
                records = commit_batch(
                    catalog,
                    source,
                    [ex for ex, _ in todo],
                    [d for _, d in todo],
                    results,
                    vectors,
                    thumbs,
                    run_id,
                )
                summary.added += len(records)
                if (n + 1) % save_every == 0:
                    catalog.save_index()
            bar.update(task, advance=len(batch), description=f"ingesting ({summary.added} new)")
    catalog.save_index()
    summary.seconds = time.perf_counter() - start
    store.finish_ingest(
        run_id, added=summary.added, skipped=len(summary.skipped), duplicates=summary.duplicates
    )
    return summary


def new_files(
    store, batch: Sequence[Example], seen: set[str], summary: IngestSummary, run_id: int
) -> list[tuple[Example, bytes, str]]:
    """Read and hash a batch; return the files not yet in the catalog (nor earlier in this run)."""
    blobs: list[tuple[Example, bytes, str]] = []
    for ex in batch:
        try:
            data = read_source(ex)
        except ImageLoadError as exc:
            _skip(store, summary, ex, exc, run_id)
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            summary.duplicates += 1
            continue
        seen.add(digest)
        blobs.append((ex, data, digest))
    known = store.has_hash([d for _, _, d in blobs])
    summary.duplicates += sum(d in known for _, _, d in blobs)
    return [b for b in blobs if b[2] not in known]


def commit_batch(
    catalog: Catalog,
    source: str,
    examples: Sequence[Example],
    hashes: Sequence[str],
    results: Sequence[Any],
    vectors: np.ndarray,
    thumbs: Sequence[bytes],
    run_id: int,
) -> list:
    """Write one batch to the database (one transaction), then to the vector index."""
    from vestis.catalog.store import ItemRecord

    records = [
        ItemRecord(
            content_hash=digest,
            source=source,
            path=str(Path(ex.image).resolve()),
            meta={**ex.meta, "id": ex.id},
            attributes=res.attributes,
            confidence=res.confidence,
            thumbnail=thumb,
            embedding=vector,
        )
        for ex, digest, res, vector, thumb in zip(examples, hashes, results, vectors, thumbs, strict=True)
    ]
    ids = catalog.store.add_items(records, run_id=run_id)  # one transaction: the unit of resumability
    catalog.add_vectors(
        ids, np.asarray(vectors, dtype=np.float32), [catalog.payload(r.attributes) for r in records]
    )
    return records


def _skip(store, summary: IngestSummary, ex: Example, exc: ImageLoadError, run_id: int) -> None:
    summary.skipped.append((ex.image, exc.reason, exc.detail))
    store.record_skip(ex.image, exc.reason, exc.detail, run_id=run_id)
    log.info("skipped %s", exc)
