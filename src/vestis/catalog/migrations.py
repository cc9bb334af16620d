"""Upgrades of a catalog database written by an older vestis, run when the store opens it.

Format 2 links an item to the photo it comes from, for photos of people whose garments are each
an item: ``photo_hash`` (the SHA-256 of the photo's bytes, the key that makes re-ingesting a
photo a duplicate), ``box`` (the garment's box in the photo's pixels, JSON ``[x0, y0, x1, y1]``),
``garment`` (its number among the photo's garments, as the parser numbered them) and
``garment_class`` (the parser's coarse class). A whole photo (a product shot) has no box, garment
nor class, and its ``photo_hash`` is its ``content_hash``, which is what format-1 items get.
"""

from __future__ import annotations

import sqlite3

PHOTO_COLUMNS = (("photo_hash", "TEXT"), ("box", "TEXT"), ("garment", "INTEGER"), ("garment_class", "TEXT"))
PHOTO_INDEX = "CREATE INDEX IF NOT EXISTS items_by_photo ON items (photo_hash)"


def migrate(db: sqlite3.Connection, version: int) -> int:
    """Bring the tables of format ``version`` up to the newest in the open transaction ``db``;
    returns the format reached."""
    if version < 2:
        have = {row[1] for row in db.execute("PRAGMA table_info(items)")}
        for name, kind in PHOTO_COLUMNS:
            if name not in have:
                db.execute(f"ALTER TABLE items ADD COLUMN {name} {kind}")  # names from the tuple above
        db.execute("UPDATE items SET photo_hash = content_hash WHERE photo_hash IS NULL")
        db.execute(PHOTO_INDEX)
        version = 2
    return version
