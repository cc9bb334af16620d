"""The item pass of :func:`vestis.catalog.check.check_catalog`: one read of the items table, in
batches, checking JSON columns, embeddings (beside the index's own vectors) and thumbnails; and
making a thumbnail again from its source photo, as ingest made it."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from vestis.catalog.index.base import VectorIndex

BATCH = 512  # items per query: a few MB of thumbnails and vectors at a time
VECTOR_ATOL = 1e-4  # an index vector this close to the database's is the same vector
SEARCH_SAMPLE = 1000  # self-searches when a backend cannot read its vectors back
THUMB_MAX_SIDE = 4096  # a thumbnail claiming more pixels is corrupt (and is not decoded)


class ItemScan:
    """One pass over the items table in batches of :data:`BATCH`: JSON columns, embeddings (and, with
    an index that reads back, its vectors beside them) and thumbnails."""

    def __init__(self, dim: int | None, index: VectorIndex | None) -> None:
        self.dim = dim
        self.index = index
        self.stored_ids: np.ndarray | None = None  # what the index holds, when it can list it
        self.readback = True  # whether the index reads its vectors back (else: self-search on a sample)
        self.items = self.thumbnails = self.indexed = self.sampled = 0
        self.bad_json: dict[str, list[int]] = {}
        self.bad_size: list[int] = []
        self.not_finite: list[int] = []
        self.no_embedding: list[int] = []
        self.bad_thumbnails: dict[int, str] = {}  # id → "missing" or "corrupt"
        self.differ: list[int] = []
        self._embedded: list[np.ndarray] = []
        self._sample: list[tuple[int, np.ndarray]] = []

    @property
    def embedded(self) -> np.ndarray:
        """Ids of the items with an embedding (of any size), sorted."""
        if len(self._embedded) != 1:
            self._embedded = [np.concatenate(self._embedded) if self._embedded else np.empty(0, np.int64)]
        return self._embedded[0]

    def run(self, db: sqlite3.Connection) -> None:
        if self.index is not None:
            self.stored_ids = self.index.stored_ids()
            self.indexed = len(self.index)
        last = 0
        sql = (
            "SELECT id, attributes, meta, confidence, embedding, thumbnail FROM items"
            " WHERE id > ? ORDER BY id LIMIT ?"
        )
        while rows := db.execute(sql, (last, BATCH)).fetchall():
            last = rows[-1][0]
            self.items += len(rows)
            ids, vectors = [], []
            for item_id, attributes, meta, confidence, blob, thumb in rows:
                for column, text in (("attributes", attributes), ("meta", meta), ("confidence", confidence)):
                    if not _parses(text):
                        self.bad_json.setdefault(column, []).append(item_id)
                self.check_thumbnail(item_id, thumb)
                vector = self.check_embedding(item_id, blob)
                if vector is not None:
                    ids.append(item_id)
                    vectors.append(vector)
            self._embedded.append(np.asarray([r[0] for r in rows if r[4] is not None], dtype=np.int64))
            if ids and self.index is not None:
                self.compare(np.asarray(ids, dtype=np.int64), np.stack(vectors))

    def check_embedding(self, item_id: int, blob: bytes | None) -> np.ndarray | None:
        if blob is None:
            self.no_embedding.append(item_id)
            return None
        if self.dim is None and len(blob) % 4 == 0 and blob:
            self.dim = len(blob) // 4  # not recorded: the first embedding sets it, as for the store
        if len(blob) != 4 * (self.dim or 0):
            self.bad_size.append(item_id)
            return None
        vector = np.frombuffer(blob, dtype=np.float32)
        if not np.isfinite(vector).all():
            self.not_finite.append(item_id)
            return None
        return vector

    def check_thumbnail(self, item_id: int, data: bytes | None) -> None:
        self.thumbnails += 1
        problem = thumbnail_problem(data)
        if problem is not None:
            self.bad_thumbnails[item_id] = problem

    def compare(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        assert self.index is not None
        if vectors.shape[1] != self.index.dim:
            self.differ.extend(ids.tolist())
            return
        stored = self.index.stored_vectors(ids) if self.readback else None
        if stored is None:
            self.readback = False
            step = max(1, self.indexed // SEARCH_SAMPLE)
            self._sample.extend(
                (int(i), v) for n, (i, v) in enumerate(zip(ids, vectors, strict=True)) if n % step == 0
            )
            return
        present = ~np.isnan(stored).any(axis=1)
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        far = np.abs(stored - vectors).max(axis=1) > VECTOR_ATOL
        far &= np.abs(stored - unit).max(axis=1) > VECTOR_ATOL  # qdrant keeps vectors normalised
        self.differ.extend(ids[present & far].tolist())

    def search_sample(self, index: VectorIndex) -> None:
        """Each sampled item's nearest hit is itself (or an equal vector) with a score of its norm²."""
        sample = self._sample[:SEARCH_SAMPLE]
        self.sampled = len(sample)
        if not sample:
            return
        ids = [i for i, _ in sample]
        vectors = np.stack([v for _, v in sample])
        hits = index.search(vectors, k=10)
        for item_id, vector, row in zip(ids, vectors, hits, strict=True):
            expected = float(vector @ vector)
            own = [s for i, s in row if i == item_id]
            best = row[0][1] if row else None
            if not own or abs(own[0] - expected) > 1e-3 or best is None or best > expected + 1e-3:
                self.differ.append(item_id)


def _parses(text: str | None) -> bool:
    if text is None:
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def thumbnail_problem(data: bytes | None) -> str | None:
    """None when the thumbnail decodes (at reduced scale: the whole stream is still read), else why not."""
    if data is None:
        return "missing"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if max(img.size) > THUMB_MAX_SIDE:
                return "corrupt"
            img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except Exception:  # PIL raises many kinds (OSError, SyntaxError, ValueError...) for a bad stream
        return "corrupt"
    return None


def regenerate_thumbnail(path: str | None, photo_hash: str | None, box: list[int] | None) -> bytes:
    """An item's thumbnail made again from its source photo as ingest made it (a garment's crop,
    with the parser's margin, for an item that has a box); ValueError when the photo is gone or changed."""
    from vestis.catalog.ingest import DECODE_MAX_SIDE, thumbnail
    from vestis.images import ImageLoadError, load_image, oriented_size
    from vestis.parse.base import Region

    if not path or not Path(path).is_file():
        raise ValueError("source photo missing")
    data = Path(path).read_bytes()
    if photo_hash and hashlib.sha256(data).hexdigest() != photo_hash:
        raise ValueError("source photo changed since ingest")
    try:
        image = load_image(data, max_side=DECODE_MAX_SIDE)
    except ImageLoadError as exc:
        raise ValueError(f"source photo unreadable ({exc.reason})") from None
    if box is not None:
        width, height = oriented_size(data)  # the box is in the stored photo's pixels
        sx, sy = image.width / width, image.height / height
        x0, y0, x1, y1 = box
        scaled = (int(x0 * sx), int(y0 * sy), round(x1 * sx), round(y1 * sy))
        image = Region(scaled, 0.0).crop(image)
    return thumbnail(image)


__all__ = ["BATCH", "ItemScan", "regenerate_thumbnail", "thumbnail_problem"]
