"""The catalog's ``index/`` folder: atomic generations, one writer at a time.

    index/
      CURRENT.json          {"generation": "gen-…", "count": n, "seq": s}: the one to load
      gen-<unique>/         a complete saved index (the backend's files + index.json)
      .lock                 flock'ed by the one process allowed to save

A save writes a new generation under a unique name, then replaces ``CURRENT.json`` (write to
a unique temporary name, ``os.replace``): a reader sees the old generation or the new one,
never a torn or mixed one, and a process killed mid-save leaves the previous generation in
force. The previous generation is kept (a reader may still be loading it); older ones and the
leftovers of killed saves are removed by the next save. ``count`` and ``seq`` record the
database state the generation mirrors (:class:`~vestis.catalog.embeddings.EmbeddingState`).

Saving needs the lock; readers never wait for it. Catalogs saved before generations existed
(``index/index.json`` directly) still load, and their next save moves to this layout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from vestis.catalog.embeddings import EmbeddingState
from vestis.catalog.index.base import INDEX_FILE, VectorIndex, load_index

try:
    import fcntl
except ImportError:  # pragma: no cover  (not POSIX: one writer is assumed)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
MANIFEST = "CURRENT.json"
LOCK_FILE = ".lock"
LOAD_TRIES = 3
_LEGACY_FILES = (
    INDEX_FILE,
    INDEX_FILE + ".partial",
    "vectors.faiss",
    "ids.npy",
    "vectors.npy",
    "payloads.json",
)


class IndexFolder:
    """Load, save and lock the vector index kept in one folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock_fd: int | None = None

    # ---- the writer lock ------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        """Whether this object holds the writer lock."""
        return self._lock_fd is not None

    def try_lock(self) -> bool:
        """Take the writer lock if no other process holds it (never waits); True when held."""
        if self._lock_fd is not None:
            return True
        if fcntl is None:
            self._lock_fd = -1
            return True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only catalog: this process only reads
            log.debug("cannot open the index lock in %s: %s", self.folder, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is None:
            return
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
        self._lock_fd = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[bool]:
        """``with folder.lock() as held:`` the writer lock if free; released at the end unless it was
        already held before."""
        had = self.locked
        held = self.try_lock()
        try:
            yield held
        finally:
            if held and not had:
                self.unlock()

    # ---- load and save ---------------------------------------------------------------------------
    def load(self) -> tuple[VectorIndex, EmbeddingState | None] | None:
        """The current index and the database state it mirrors (None for an old-layout index whose
        state was not recorded); None when nothing was saved. Raises when it cannot be loaded."""
        error: Exception | None = None
        for _ in range(LOAD_TRIES):
            manifest = self._manifest()
            if manifest is None:
                if (self.folder / INDEX_FILE).is_file():
                    return load_index(self.folder), None
                return None
            try:
                index = load_index(self.folder / manifest["generation"])
                if len(index) != manifest["count"]:
                    raise ValueError(f"it holds {len(index)} vectors, {MANIFEST} says {manifest['count']}")
                return index, EmbeddingState(int(manifest["count"]), int(manifest["seq"]))
            except Exception as exc:
                error = exc
                if self._manifest() == manifest:
                    break
        assert error is not None
        raise error

    def save(self, index: VectorIndex, state: EmbeddingState) -> None:
        """Write ``index`` as a new generation and make it current (the caller holds the lock)."""
        if not self.locked:
            raise RuntimeError(f"saving the index in {self.folder} needs its writer lock")
        try:
            previous = self._manifest()
        except ValueError:
            previous = None  # a damaged manifest: replaced below
        generation = f"gen-{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(3)}"
        index.save(self.folder / generation)
        manifest = {"generation": generation, "count": int(state.count), "seq": int(state.seq)}
        tmp = self.folder / f".{MANIFEST}.{generation}.tmp"
        with open(tmp, "w") as fh:
            fh.write(json.dumps(manifest) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / MANIFEST)
        keep = {generation, MANIFEST, LOCK_FILE}
        if previous is not None:
            keep.add(previous["generation"])
        self._clean(keep)

    def manifest(self) -> dict | None:
        """What ``CURRENT.json`` says (``generation``, ``count``, ``seq``); None when nothing was saved
        in generations. Raises ValueError when it is unreadable or not a manifest."""
        return self._manifest()

    def leftovers(self) -> list[Path]:
        """What the next save would remove: generations other than the current one and the newest
        complete other one (a reader may still be loading it), files of killed saves and, once
        generations exist, old-layout files. Without a manifest no generation is called a leftover
        (none is current). Raises ValueError when the manifest is unreadable."""
        if not self.folder.is_dir():
            return []
        manifest = self._manifest()
        current = manifest["generation"] if manifest is not None else None
        others = [
            p
            for p in self.folder.iterdir()
            if p.name.startswith("gen-") and p.name != current and (p / INDEX_FILE).is_file()
        ]
        keep = {MANIFEST, LOCK_FILE}
        if current is None:
            keep.update(p.name for p in self.folder.glob("gen-*"))
        else:
            keep.add(current)
            if others:
                keep.add(max(others, key=_made_at).name)
        legacy = current is not None  # without a manifest, old-layout files are the index itself
        return sorted(p for p in self.folder.iterdir() if self._removable(p.name, keep, legacy))

    def clean(self) -> list[Path]:
        """Remove :meth:`leftovers` now (the caller holds the lock: a save in progress writes a
        generation that is not current yet); returns what was removed."""
        if not self.locked:
            raise RuntimeError(f"cleaning the index folder {self.folder} needs its writer lock")
        found = self.leftovers()
        for entry in found:
            _remove(entry)
        return found

    def _manifest(self) -> dict | None:
        try:
            data = json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.folder / MANIFEST} is unreadable: {exc}") from None
        if not isinstance(data, dict) or not {"generation", "count", "seq"} <= set(data):
            raise ValueError(f"{self.folder / MANIFEST} is not an index manifest")
        if "/" in str(data["generation"]) or str(data["generation"]).startswith("."):
            raise ValueError(f"{self.folder / MANIFEST} names an odd generation {data['generation']!r}")
        return data

    def _clean(self, keep: set[str]) -> None:
        """Remove older generations, leftovers of killed saves and old-layout files."""
        for entry in self.folder.iterdir():
            if self._removable(entry.name, keep):
                _remove(entry)

    @staticmethod
    def _removable(name: str, keep: set[str], legacy: bool = True) -> bool:
        if name in keep:
            return False
        return name.startswith(("gen-", f".{MANIFEST}.")) or (legacy and name in _LEGACY_FILES)


def _made_at(generation: Path) -> int:
    """When a generation was saved: the nanosecond clock its name starts with (else its mtime)."""
    try:
        return int(generation.name.split("-")[1], 16)
    except (IndexError, ValueError):
        return generation.stat().st_mtime_ns


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()
