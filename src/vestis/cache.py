"""Where vestis keeps derived files (ONNX exports and the like): ``$VESTIS_CACHE`` or ``~/.cache/vestis``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("VESTIS_CACHE") or Path.home() / ".cache" / "vestis")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """:func:`sha256_file`, remembered in the cache while the file's size and mtime stay the same.

    Cache keys of exports are weights' checksums; hashing the 90 MB text tower on every query
    would cost more than the query itself.
    """
    path = Path(path).resolve()
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    try:
        memo_dir = cache_dir("digests")
    except OSError:
        return sha256_file(path)
    memo = memo_dir / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")
    try:
        data = json.loads(memo.read_text())
        if data.get("path") == str(path) and data.get("stamp") == stamp:
            return str(data["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = sha256_file(path)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"path": str(path), "stamp": stamp, "sha256": digest}))
        tmp.replace(memo)  # atomic: a concurrent reader sees the old memo or the new one
    except OSError:  # a read-only cache only costs the hashing next time
        tmp.unlink(missing_ok=True)
    return digest
