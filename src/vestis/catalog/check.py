"""What a crash (or a disk) left wrong in a catalog directory, and the repairs derived data allows.

``catalog.sqlite`` is the source of truth; the vector index and the thumbnails derive from it
(and from the source photos), and a served catalog's ``uploads/`` feed it. :func:`check_catalog`
reads every part without changing anything:

- **config**: ``catalog.json`` reads.
- **database**: SQLite's ``integrity_check``; every item's JSON columns parse; every embedding has
  the recorded dimension and finite values; items without an embedding and interrupted ingest
  runs are warnings (search cannot find the first; re-running the ingest finishes the second).
- **index**: ``CURRENT.json`` reads, its generation loads and holds the count it records; the ids
  it holds are exactly the items with an embedding and its vectors equal theirs (backends that
  cannot read vectors back are checked by self-search on a sample); leftover generations and
  files of killed saves are warnings.
- **thumbnails**: each decodes (read in batches, one at a time, at reduced scale).
- **uploads**: accepted folders without ``.done`` (the next ``vestis serve`` ingests them) and
  ``.tmp-*`` folders of requests never accepted are warnings.

With ``repair=True`` it holds the index writer lock for the whole run (when another process holds
it, nothing is repaired and the report says so) and: rebuilds the index from the database and
saves it as a new generation, removes leftover index files, regenerates thumbnails from source
photos that still exist unchanged, deletes stale ``.tmp-*`` folders and ingests pending uploads
with the server's own call. A damaged database is never rewritten: restore it from a backup.

>>> report = check_catalog("shop", repair=True)  # doctest: +SKIP
>>> report.ok, report.verdict()  # doctest: +SKIP
(True, 'catalog ok after 2 repairs (4 items checked)')
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.catalog import CONFIG_NAME, DB_NAME, INDEX_DIR, Catalog
from vestis.catalog.check_scan import BATCH, ItemScan, regenerate_thumbnail
from vestis.catalog.index.base import INDEX_FILE, VectorIndex, load_index
from vestis.catalog.index_folder import MANIFEST, IndexFolder
from vestis.catalog.uploads import UPLOADS, UploadFolder
from vestis.errors import UserError

log = logging.getLogger(__name__)
PARTS = ("config", "database", "index", "thumbnails", "uploads")
ERROR, WARNING = "error", "warning"
SHOWN = 5  # item ids a finding names
INTEGRITY_LIMIT = 100  # problems SQLite's integrity_check lists at most
STALE_UPLOAD_S = 600.0  # a .tmp-* upload untouched this long is no request in flight


@dataclass
class Finding:
    """One problem: which part, how bad, what (naming the first few items), how many, and whether
    ``repair`` fixed it (``repairable``: whether ``repair=True`` would try)."""

    part: str
    severity: str
    message: str
    count: int = 1
    repairable: bool = False
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    """The findings of :func:`check_catalog`, what it counted and how long it took. ``ok`` when no
    error is left unrepaired (warnings heal by themselves or need nothing)."""

    directory: str
    repair: bool = False
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def remaining(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.remaining)

    def verdict(self) -> str:
        """One line: ok or not, and what is left."""
        left = self.remaining
        errors = sum(f.severity == ERROR for f in left)
        warnings = len(left) - errors
        repaired = len(self.findings) - len(left)
        counted = f"({self.checked.get('items', 0)} items checked)"
        if not left:
            done = f" after {repaired} repair{'s' * (repaired != 1)}" if repaired else ""
            return f"catalog ok{done} {counted}"
        parts = [f"{n} {word}{'s' * (n != 1)}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
        fixable = sum(f.repairable for f in left)
        hint = f"; --repair fixes {fixable}" if fixable and not self.repair else ""
        head = "catalog ok" if self.ok else "problems remain"
        done = f" ({repaired} repaired)" if repaired else ""
        return f"{head}: {', '.join(parts)}{done}{hint} {counted}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "ok": self.ok,
            "verdict": self.verdict(),
            "repair": self.repair,
            "checked": self.checked,
            "findings": [f.to_dict() for f in self.findings],
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def check_catalog(catalog_or_dir: Catalog | str | Path, repair: bool = False) -> CheckReport:
    """Check a catalog directory (or an open :class:`Catalog`) and, with ``repair``, fix what can be
    rebuilt; see the module docstring. A directory without a catalog raises :class:`CatalogError`."""
    start = time.perf_counter()
    owned = not isinstance(catalog_or_dir, Catalog)
    directory = Path(catalog_or_dir) if owned else catalog_or_dir.directory  # type: ignore[union-attr]
    if owned and not (directory / CONFIG_NAME).is_file() and not (directory / DB_NAME).is_file():
        Catalog.open(directory)  # raises the usual "no catalog at" error
    report = CheckReport(str(directory), repair)
    checker = _Checker(directory, report)
    catalog = checker.open_config() if owned else catalog_or_dir
    try:
        writing = catalog.writing() if repair and catalog is not None else contextlib.nullcontext(False)
        with writing as held:
            if repair and not held:
                why = (
                    "catalog.json cannot be read"
                    if catalog is None
                    else "another process holds the index writer lock (an ingest, or a server saving)"
                )
                report.notes.append(f"nothing repaired: {why}; run again when it is done")
            checker.run(catalog if held else None)
    finally:
        if owned and catalog is not None:
            catalog.close()
    report.seconds = time.perf_counter() - start
    return report


class _Checker:
    """One run of :func:`check_catalog`; ``run(catalog)`` repairs only when given the catalog."""

    def __init__(self, directory: Path, report: CheckReport) -> None:
        self.directory = directory
        self.report = report
        self.fixer: Catalog | None = None
        self.index_findings: list[Finding] = []  # what rebuilding the index repairs
        self.leftover: Finding | None = None
        self.thumbnail_findings: list[tuple[Finding, list[int]]] = []

    def add(
        self, part: str, severity: str, message: str, count: int = 1, repairable: bool = False
    ) -> Finding:
        found = Finding(part, severity, message, count, repairable)
        self.report.findings.append(found)
        return found

    def open_config(self) -> Catalog | None:
        if not (self.directory / CONFIG_NAME).is_file():
            self.add("config", ERROR, f"{CONFIG_NAME} is missing: write it again with the catalog's settings")
            return None
        try:
            return Catalog.open(self.directory)
        except UserError as exc:
            self.add("config", ERROR, f"{exc}; write it again with the catalog's settings")
            return None

    def run(self, fixer: Catalog | None) -> None:
        self.fixer = fixer
        db = self.open_database()
        if db is not None:
            with contextlib.closing(db):
                self.check_database(db)
        self.check_uploads(sound_database=db is not None)

    # ---- database ------------------------------------------------------------------------------
    def open_database(self) -> sqlite3.Connection | None:
        """A connection to a sound catalog database (only read from), else None with a finding."""
        path = self.directory / DB_NAME
        if not path.is_file():
            self.add("database", ERROR, f"{DB_NAME} is missing: restore it from a backup")
            return None
        db = sqlite3.connect(path, timeout=30)
        try:
            rows = [r[0] for r in db.execute(f"PRAGMA integrity_check({INTEGRITY_LIMIT})")]
            problems = [line for row in rows for line in str(row).splitlines() if not line.startswith("***")]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            problems, tables = [str(exc)], set()
        if problems == ["ok"] and not {"meta", "items", "ingest_log"} <= tables:
            problems = ["it holds no vestis catalog tables"]
        if problems == ["ok"]:
            return db
        db.close()
        many = f"{INTEGRITY_LIMIT}+" if len(problems) >= INTEGRITY_LIMIT else str(len(problems))
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        self.add(
            "database",
            ERROR,
            f"{DB_NAME} is damaged ({many} problem{'s' * (len(problems) != 1)}: {shown}); it cannot be "
            f"repaired here: restore it from a backup, or salvage what SQLite still reads with "
            f"`sqlite3 {DB_NAME} .recover | sqlite3 recovered.sqlite`. The other checks need a sound "
            f"database and were skipped",
            count=len(problems),
        )
        return None

    def check_database(self, db: sqlite3.Connection) -> None:
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        folder = (
            self.fixer.index_folder if self.fixer is not None else IndexFolder(self.directory / INDEX_DIR)
        )
        index, manifest = self.load_index(folder, db)
        scan = ItemScan(meta.get("embedding_dim"), index)
        try:
            scan.run(db)
            self.report_scan(scan, db)
            if index is not None:
                self.compare_index(scan, index, manifest)
        finally:
            if index is not None:
                index.close()  # qdrant local mode: a rebuild opens the same folder
        self.report.checked.update(
            items=scan.items, embeddings=scan.embedded.size, thumbnails=scan.thumbnails, indexed=scan.indexed
        )
        self.check_leftovers(folder)
        if self.fixer is not None:
            self.repair_index()
            self.repair_thumbnails(scan.bad_thumbnails, db)
            self.clean_leftovers(folder)

    def report_scan(self, scan: ItemScan, db: sqlite3.Connection) -> None:
        for column, ids in scan.bad_json.items():
            self.add(
                "database",
                ERROR,
                f"items whose {column} JSON does not parse: {len(ids)}{_ids(ids)}",
                len(ids),
            )
        if scan.bad_size:
            self.add(
                "database",
                ERROR,
                f"items whose embedding is not of the catalog's dimension {scan.dim}: {len(scan.bad_size)}"
                f"{_ids(scan.bad_size)}; remove them and ingest their photos again",
                len(scan.bad_size),
            )
        if scan.not_finite:
            self.add(
                "database",
                ERROR,
                f"items whose embedding holds NaN or infinite values: {len(scan.not_finite)}"
                f"{_ids(scan.not_finite)}; remove them and ingest their photos again",
                len(scan.not_finite),
            )
        if scan.no_embedding:
            self.add(
                "database",
                WARNING,
                f"items without an embedding (search cannot find them): {len(scan.no_embedding)}"
                f"{_ids(scan.no_embedding)}",
                len(scan.no_embedding),
            )
        runs = db.execute(  # interrupted, and no later run of the same source finished since
            "SELECT id, started_at, source FROM ingest_log AS run WHERE finished_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM ingest_log AS later WHERE later.source IS run.source AND later.id > run.id"
            " AND later.finished_at IS NOT NULL) ORDER BY id"
        ).fetchall()
        if runs:
            named = ", ".join(f"#{i} of {source} at {at}" for i, at, source in runs[:SHOWN])
            self.add(
                "database",
                WARNING,
                f"ingest runs that did not finish: {len(runs)} ({named}); killed, or still running: what "
                "they committed is kept, and running the same ingest again adds the rest (and clears this)",
                len(runs),
            )
        if scan.bad_thumbnails:
            missing = [i for i, why in scan.bad_thumbnails.items() if why == "missing"]
            corrupt = [i for i, why in scan.bad_thumbnails.items() if why != "missing"]
            for ids, what in ((missing, "missing"), (corrupt, "corrupt (they do not decode)")):
                if ids:
                    found = self.add(
                        "thumbnails", ERROR, f"thumbnails {what}: {len(ids)}{_ids(ids)}", len(ids), True
                    )
                    self.thumbnail_findings.append((found, ids))

    # ---- index ---------------------------------------------------------------------------------
    def load_index(
        self, folder: IndexFolder, db: sqlite3.Connection
    ) -> tuple[VectorIndex | None, dict | None]:
        """The saved index as it is (never repaired on the way, unlike :attr:`Catalog.index`)."""
        try:
            manifest = folder.manifest()
        except ValueError as exc:
            self.index_finding(f"{exc}: the catalog rebuilds the index in memory at every start", None)
            return None, None
        embedded = db.execute("SELECT COUNT(*) FROM items WHERE embedding IS NOT NULL").fetchone()[0]
        if manifest is None:
            if (folder.folder / INDEX_FILE).is_file():  # saved before generations existed
                return self.open_generation(folder.folder), None
            if any(folder.folder.glob("gen-*")):
                self.index_finding(f"{MANIFEST} is missing while generations exist", None)
            elif embedded:
                self.index_finding(
                    "no index was saved: it is built from the database when the catalog opens", None, WARNING
                )
            return None, None
        index = self.open_generation(folder.folder / manifest["generation"])
        if index is not None and len(index) != manifest["count"]:
            self.index_finding(
                f"{MANIFEST} says {manifest['count']} vectors, its generation holds {len(index)}", None
            )
        return index, manifest

    def open_generation(self, path: Path) -> VectorIndex | None:
        try:
            return load_index(path)
        except Exception as exc:  # any damage of the backend's files: the database rebuilds it
            self.index_finding(f"the index in {path.name} cannot be loaded ({exc})", None)
            return None

    def index_finding(self, message: str, ids: np.ndarray | None, severity: str = ERROR) -> None:
        count = 1 if ids is None else int(ids.size)
        self.index_findings.append(self.add("index", severity, message, count, repairable=True))

    def compare_index(self, scan: ItemScan, index: VectorIndex, manifest: dict | None) -> None:
        stored = scan.stored_ids
        if stored is not None:
            missing = np.setdiff1d(scan.embedded, stored, assume_unique=True)
            extra = np.setdiff1d(stored, scan.embedded, assume_unique=True)
            seq = int(manifest["seq"]) if manifest is not None else None
            older = missing if seq is None else missing[missing <= seq]
            newer = np.setdiff1d(missing, older, assume_unique=True)
            if older.size:
                self.index_finding(
                    f"items with an embedding missing from the index: {older.size}{_ids(older)}", older
                )
            if newer.size:
                self.index_finding(
                    f"items added since the index was last saved: {newer.size}{_ids(newer)}; "
                    "opening the catalog adds them",
                    newer,
                    WARNING,
                )
            if extra.size:
                self.index_finding(
                    "ids in the index with no item with an embedding in the database (deleted behind "
                    f"its back?): {extra.size}{_ids(extra)}",
                    extra,
                )
        elif len(index) != scan.embedded.size:
            self.index_finding(
                f"the index holds {len(index)} vectors, the database {scan.embedded.size} embeddings", None
            )
        how = "read back"
        if not scan.readback:
            scan.search_sample(index)
            how = f"by self-search on a sample of {scan.sampled}"
        differ = np.asarray(scan.differ, dtype=np.int64)
        if differ.size:
            self.index_finding(
                f"vectors in the index that differ from the database's ({how}): {differ.size}{_ids(differ)}",
                differ,
            )

    def repair_index(self) -> None:
        if not self.index_findings or self.fixer is None:
            return
        if any(f.part == "database" and f.severity == ERROR for f in self.report.findings):
            self.report.notes.append("the index was not rebuilt: fix the database's errors first")
            return
        held = self.fixer.rebuild_index()
        if held is None:  # the lock is held for the whole run: only if it was lost
            self.report.notes.append("the index was not rebuilt: another process holds its writer lock")
            return
        log.info("rebuilt the index of %s from the database: %d vectors", self.directory, held)
        for found in self.index_findings:
            found.repaired = True

    def check_leftovers(self, folder: IndexFolder) -> None:
        try:
            found = folder.leftovers()
        except ValueError:  # an unreadable manifest, reported already
            return
        if found:
            size = sum(_size(p) for p in found)
            self.leftover = self.add(
                "index",
                WARNING,
                f"leftover index generations or files of killed saves: {len(found)} ({size / 1e6:.1f} MB: "
                f"{', '.join(p.name for p in found[:SHOWN])})",
                len(found),
                repairable=True,
            )

    def clean_leftovers(self, folder: IndexFolder) -> None:
        if self.leftover is not None:
            folder.clean()
            self.leftover.repaired = not folder.leftovers()

    # ---- thumbnails ----------------------------------------------------------------------------
    def repair_thumbnails(self, bad: dict[int, str], db: sqlite3.Connection) -> None:
        if not bad or self.fixer is None:
            return
        made: dict[int, bytes] = {}
        lost: dict[int, str] = {}
        ids = sorted(bad)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(f"SELECT id, path, photo_hash, box FROM items WHERE id IN ({marks})", chunk)
            for item_id, path, photo_hash, box in rows.fetchall():
                try:
                    made[item_id] = regenerate_thumbnail(path, photo_hash, json.loads(box) if box else None)
                except (OSError, ValueError) as exc:
                    lost[item_id] = str(exc)
            self.fixer.store.set_thumbnails(made)
            made.clear()
        for found, ids in self.thumbnail_findings:
            left = [i for i in ids if i in lost]
            found.repaired = not left
            if left:
                reasons = "; ".join(sorted({lost[i] for i in left}))
                found.message += (
                    f"; {len(ids) - len(left)} made again, {len(left)} could not be ({reasons}){_ids(left)}: "
                    "re-ingest their photos"
                )

    # ---- uploads -------------------------------------------------------------------------------
    def check_uploads(self, sound_database: bool) -> None:
        if not (self.directory / UPLOADS).is_dir():
            return
        uploads = UploadFolder(self.directory)
        unfinished, pending = uploads.unfinished(), uploads.pending()
        self.report.checked["uploads"] = len(unfinished) + len(pending)
        if unfinished:
            found = self.add(
                "uploads",
                WARNING,
                f"upload folders of requests never accepted (.tmp-*): {len(unfinished)} "
                f"({', '.join(p.name for p in unfinished[:SHOWN])}); nothing in them was promised to anyone",
                len(unfinished),
                repairable=True,
            )
            if self.fixer is not None:
                removed = uploads.clean_unfinished(older_than_s=STALE_UPLOAD_S)
                found.repaired = removed == len(unfinished)
                if not found.repaired:
                    found.message += (
                        f"; {len(unfinished) - removed} younger than {STALE_UPLOAD_S / 60:.0f} min were "
                        "left alone (a running server may be writing them)"
                    )
        if pending:
            found = self.add(
                "uploads",
                WARNING,
                f"accepted uploads not wholly ingested (no .done): {len(pending)} "
                f"({', '.join(p.name for p in pending[:SHOWN])}); the next `vestis serve` start ingests them",
                len(pending),
                repairable=True,
            )
            if self.fixer is not None and not sound_database:
                found.message += "; not ingested now: the database is damaged"
            elif self.fixer is not None:
                self.ingest_pending(uploads, pending, found)

    def ingest_pending(self, uploads: Any, pending: list[Path], found: Finding) -> None:
        failed = []
        for folder in pending:
            try:
                summary, ids = uploads.ingest(self.fixer, folder)
            except Exception as exc:  # reported per folder: one bad upload must not stop the others
                failed.append(f"{folder.name}: {exc}")
                continue
            log.info("ingested the upload %s: %d items (%d new)", folder.name, len(ids), summary.items)
        found.repaired = not failed
        if failed:
            found.message += f"; {len(failed)} could not be ingested now ({'; '.join(failed[:3])})"


def _ids(ids: Any) -> str:
    shown = [int(i) for i in list(ids)[:SHOWN]]
    more = ", ..." if len(ids) > SHOWN else ""
    return f" (ids {', '.join(map(str, shown))}{more})" if shown else ""


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return 0


__all__ = ["PARTS", "CheckReport", "Finding", "check_catalog"]
