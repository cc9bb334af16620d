"""Where vestis keeps derived files (ONNX exports and the like): ``$VESTIS_CACHE`` or ``~/.cache/vestis``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("VESTIS_CACHE") or Path.home() / ".cache" / "vestis")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
