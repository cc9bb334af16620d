"""Ingest: images → attributes + embedding + thumbnail → catalog, idempotent and resumable.

Every file is hashed (SHA-256 of its bytes); a hash already in the catalog is a duplicate and
costs nothing more, so re-running an ingest only processes new files. Each batch is committed
to the database in one transaction, then added to the vector index; a run killed at any
point loses at most the batch in flight, and the next run (or opening the catalog) brings the
index back in line with the database. Every file the source names is either ingested, a
duplicate, or recorded as skipped with its reason (:data:`vestis.images.REASONS`).

Memory stays bounded whatever the batch size: files are read one at a time, images are
decoded at most ``max_side`` pixels on their longest side (JPEGs at reduced scale, others
shrunk right after decoding; the models see 160-336 px), and a batch closes early once its
decoded pixels reach ``batch_pixels``.

With a parser (``parser``, default the catalog's: see
:class:`~vestis.catalog.catalog.CatalogConfig`) a photo of a person becomes one item per garment
it finds: each described and embedded from its crop, keyed ``<photo hash>#<garment>``, and
linked to the photo (its path and hash), its box in the photo's pixels, its number and coarse
class. A product shot, or a photo in which no garment is found, stays one item exactly as
without a parser. Re-ingesting a photo is a duplicate whichever items it gave.

With ``sync=True`` the catalog is made to match the source afterwards (see :func:`ingest`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.catalog.catalog import Catalog
from vestis.data import Example, open_dataset
from vestis.data.base import Dataset, DatasetError
from vestis.images import DEFAULT_MAX_BYTES, ImageLoadError, load_image, oriented_size, path_text
from vestis.progress import progress_bar

log = logging.getLogger(__name__)
THUMB_PX = 160
DECODE_MAX_SIDE = 1024  # longest side kept after decoding: far above what the models and thumbnails use
BATCH_PIXELS = 64_000_000  # decoded pixels per batch (~190 MB as RGB) before it closes early


@dataclass
class IngestSummary:
    """What an ingest did, counted in files (``seen``, ``added``, ``duplicates``, ``skipped``; ``people``:
    the added photos of people, whose garments became items) except ``garments``, the items those
    photos gave (each other added photo is one item)."""

    seen: int = 0
    added: int = 0
    people: int = 0
    garments: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, detail)
    removed: int = 0  # sync: items whose file is gone or changed
    moved: int = 0  # sync: items whose file was renamed
    seconds: float = 0.0

    @property
    def items(self) -> int:
        """Catalog items added."""
        return self.added - self.people + self.garments

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "added": self.added,
            "people": self.people,
            "garments": self.garments,
            "duplicates": self.duplicates,
            "skipped": len(self.skipped),
            "removed": self.removed,
            "moved": self.moved,
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


def read_source(example: Example, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an example's file. Only regular files are read (a FIFO is opened non-blocking
    and refused, so it never hangs the run); every failure is an :class:`ImageLoadError`."""
    name = path_text(example.image)
    try:
        fd = os.open(example.image, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageLoadError(name, "not_found") from None
    except IsADirectoryError:
        raise ImageLoadError(name, "not_a_file", "a directory") from None
    except OSError as exc:
        reason = "not_a_file" if exc.errno == errno.ELOOP else "unreadable"
        raise ImageLoadError(name, reason, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImageLoadError(name, "not_a_file", "not a regular file")
        if info.st_size > max_bytes:
            raise ImageLoadError(name, "too_large", f"{info.st_size} bytes")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ImageLoadError(name, "unreadable", exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise ImageLoadError(name, "too_large", f"over {max_bytes} bytes")
    return data


def batches(items: Sequence[Example], size: int) -> Iterator[Sequence[Example]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_source(source: str, schema: Any = None) -> Dataset:
    """Open ``source`` and check it holds at least one image (an empty or missing source is an
    error, so a mistyped or unmounted folder never makes an empty catalog nor empties one)."""
    dataset = open_dataset(source, schema=schema)
    if not dataset.examples():
        other = (
            f" ({len(dataset.skipped)} unusable entries: {dataset.skipped[0][0]}, ...)"
            if dataset.skipped
            else ""
        )
        raise DatasetError(f"no images found in {source}{other}")
    return dataset


@dataclass
class _Item:
    example: Example
    path: str  # absolute, as UTF-8 text (what the catalog stores)
    digest: str
    image: Image.Image
    size: tuple[int, int]  # of the photo as stored (the image may have been decoded smaller)


def ingest(
    catalog: Catalog,
    source: str,
    batch_size: int = 64,
    progress: bool = True,
    save_every: int = 20,
    *,
    sync: bool = False,
    dataset: Dataset | None = None,
    max_side: int = DECODE_MAX_SIDE,
    batch_pixels: int = BATCH_PIXELS,
    parser: Any = None,
) -> IngestSummary:
    """Add every image of ``source`` (a dataset spec, folder or table) to ``catalog``.

    Additive by default: nothing already in the catalog changes. With ``sync=True`` the
    catalog then matches the source: of the items the source holds (paths under a folder
    source; for a table or dataset spec, the items ingested from that same spec), one whose
    file now has other content is replaced by the new content, one whose content moved to
    another path (a rename) gets the new path without re-extraction, and one whose file is
    gone (or can no longer be read as an image) is deleted from the database and the index.

    ``parser`` (a name or a Parser; default the catalog's) finds the items of each photo.

    >>> ingest(Catalog.create("shop"), "photos/", sync=True)  # doctest: +SKIP
    >>> ingest(Catalog.open("shop"), "street/", parser="lite-parser").people  # doctest: +SKIP
    40
    """
    if parser is None or isinstance(parser, str):
        parser = catalog.load_parser(parser)
    dataset = dataset or open_source(source, catalog.schema)
    examples = dataset.examples()
    summary = IngestSummary(seen=len(examples) + len(dataset.skipped))
    store = catalog.store
    with catalog.writing():
        catalog.index  # noqa: B018  (loads the index and repairs it if a previous run was killed)
        run_id = store.begin_ingest(source)
        start = time.perf_counter()
        for path, reason, detail in dataset.skipped:
            _skip(store, summary, path, ImageLoadError(path_text(path), reason, detail), run_id)
        seen: set[str] = set()
        walked: dict[str, str] = {}  # path text → content hash of every file read this run
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task("ingesting", total=len(examples))
            batch: list[_Item] = []
            pixels = committed = 0
            for ex in examples:
                item = _prepare(store, ex, seen, walked, summary, run_id, max_side)
                bar.update(task, advance=1)
                if item is None:
                    continue
                batch.append(item)
                pixels += item.image.width * item.image.height
                if len(batch) >= batch_size or pixels >= batch_pixels:
                    _commit(catalog, source, batch, summary, run_id, parser)
                    batch, pixels, committed = [], 0, committed + 1
                    bar.update(task, description=f"ingesting ({summary.added} new)")
                    if committed % save_every == 0:
                        catalog.save_index()
            if batch:
                _commit(catalog, source, batch, summary, run_id, parser)
        if sync:
            _sync(catalog, source, dataset, walked, summary)
        catalog.save_index()
        summary.seconds = time.perf_counter() - start
        store.finish_ingest(
            run_id, added=summary.items, skipped=len(summary.skipped), duplicates=summary.duplicates
        )
    return summary


def _prepare(store, ex: Example, seen: set[str], walked: dict[str, str], summary, run_id, max_side):
    """Read, hash and (when new) decode one file; None when it is a duplicate or skipped."""
    try:
        data = read_source(ex)
    except ImageLoadError as exc:
        _skip(store, summary, ex.image, exc, run_id)
        return None
    digest = hashlib.sha256(data).hexdigest()
    path = path_text(os.path.abspath(ex.image))
    walked[path] = digest
    if digest in seen or store.has_hash([digest]):
        seen.add(digest)
        summary.duplicates += 1
        return None
    seen.add(digest)
    try:
        image = load_image(data, max_side=max_side)
    except ImageLoadError as exc:
        _skip(store, summary, ex.image, ImageLoadError(path_text(ex.image), exc.reason, exc.detail), run_id)
        return None
    size = oriented_size(data) if max(image.size) >= max_side else image.size  # else never shrunk
    return _Item(ex, path, digest, image, size)


def _commit(
    catalog: Catalog, source: str, batch: list[_Item], summary: IngestSummary, run_id: int, parser
) -> None:
    from vestis.catalog.store import ItemRecord

    records = []
    for it, photo in zip(batch, catalog.describe([it.image for it in batch], parser), strict=True):
        garments = photo.parsed.garments
        regions = photo.parsed.rescaled(it.size).regions  # boxes in the stored photo's pixels
        for n, (item, crop, vector) in enumerate(zip(photo.items, photo.crops, photo.vectors, strict=True)):
            records.append(
                ItemRecord(
                    content_hash=f"{it.digest}#{n}" if garments else it.digest,
                    source=source,
                    path=it.path,
                    meta={**it.example.meta, "id": path_text(it.example.id)},
                    attributes=item.attributes,
                    confidence=item.confidence,
                    thumbnail=thumbnail(crop),
                    embedding=np.asarray(vector, dtype=np.float32),
                    photo_hash=it.digest,
                    box=regions[n].box if garments else None,
                    garment=n if garments else None,
                    garment_class=item.category if garments else None,
                )
            )
    result = catalog.add_items(records, run_id=run_id)  # one transaction: the unit of resumability
    new = [r for r, fresh in zip(records, result.inserted, strict=True) if fresh]
    garments = [r for r in new if r.garment is not None]
    summary.people += len({r.photo_hash for r in garments})
    summary.garments += len(garments)
    added = len({r.photo_hash for r in new})
    summary.added += added
    summary.duplicates += len(batch) - added  # another process added the same content meanwhile


def commit_batch(
    catalog: Catalog,
    source: str,
    examples: Sequence[Example],
    hashes: Sequence[str],
    results: Sequence[Any],
    vectors: np.ndarray,
    thumbs: Sequence[bytes],
    run_id: int,
    paths: Sequence[str] | None = None,
) -> int:
    """Write one batch to the database (one transaction), then to the vector index; returns how
    many rows it inserted (content another process inserted meanwhile is not counted)."""
    from vestis.catalog.store import ItemRecord

    paths = paths or [path_text(os.path.abspath(ex.image)) for ex in examples]
    records = [
        ItemRecord(
            content_hash=digest,
            source=source,
            path=path,
            meta={**ex.meta, "id": path_text(ex.id)},
            attributes=res.attributes,
            confidence=res.confidence,
            thumbnail=thumb,
            embedding=np.asarray(vector, dtype=np.float32),
        )
        for ex, path, digest, res, vector, thumb in zip(
            examples, paths, hashes, results, vectors, thumbs, strict=True
        )
    ]
    return catalog.add_items(records, run_id=run_id).added


def hash_new_files(
    store, examples: Sequence[Example], seen: set[str], summary: IngestSummary, run_id: int
) -> list[tuple[Example, str]]:
    """(example, content hash) of the files not yet in the catalog nor earlier in this run; one
    file in memory at a time. Unreadable files are recorded as skipped."""
    out: list[tuple[Example, str]] = []
    for ex in examples:
        try:
            digest = hashlib.sha256(read_source(ex)).hexdigest()
        except ImageLoadError as exc:
            _skip(store, summary, ex.image, exc, run_id)
            continue
        if digest in seen or store.has_hash([digest]):
            summary.duplicates += 1
        else:
            out.append((ex, digest))
        seen.add(digest)
    return out


def _sync(catalog: Catalog, source: str, dataset: Dataset, walked: dict[str, str], summary) -> None:
    """Make the items of ``source`` match the files just walked: renames keep their item (new
    path), items whose path is gone or holds other content are deleted."""
    store = catalog.store
    if dataset.kind == "folder":
        held = store.locations(under=path_text(os.path.abspath(dataset.root)))
    else:
        held = store.locations(source=source)
    paths_of: dict[str, list[str]] = {}
    for path, digest in sorted(walked.items()):
        paths_of.setdefault(digest, []).append(path)
    stale = []
    for item_id, path, digest in held:
        if walked.get(path) == digest:
            continue  # unchanged
        now_at = paths_of.get(digest)
        if now_at:  # the same content under another name: a rename
            new_path = now_at[0]
            store.move(item_id, new_path, _item_key(dataset, new_path))
            summary.moved += 1
            log.info("moved item %d: %s -> %s", item_id, path, new_path)
        else:
            stale.append(item_id)
    if stale:
        summary.removed += catalog.remove_items(stale)
        log.info("removed %d items whose file is gone or changed", len(stale))


def _item_key(dataset: Dataset, path: str) -> str | None:
    """The id a folder source gives the file at ``path`` (its path relative to the root)."""
    if dataset.kind != "folder":
        return None
    root = path_text(os.path.abspath(dataset.root))
    return Path(os.path.relpath(path, root)).as_posix()


def _skip(store, summary: IngestSummary, path: str, exc: ImageLoadError, run_id: int) -> None:
    text = path_text(path)
    summary.skipped.append((text, exc.reason, exc.detail))
    store.record_skip(text, exc.reason, exc.detail, run_id=run_id)
    log.info("skipped %s: %s%s", text, exc.reason, f" ({exc.detail})" if exc.detail else "")
