"""The Example: one image with what is known about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Example:
    """One image and its metadata.

    ``labels`` holds schema values after mapping (field → value or list), ``meta``
    the raw source columns, ``group`` the id that must not straddle a split (an H&M
    product code, so colour variants stay together), ``text`` a caption if any.
    """

    id: str
    image: str
    labels: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    group: str | None = None
    source: str = ""
