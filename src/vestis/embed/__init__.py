"""Embedders: images and texts into one vector space (search, dedup, outfits, composed queries).

>>> from vestis.embed import list_embedders
>>> "lite" in list_embedders()
True
"""

from __future__ import annotations

from vestis.embed.base import EMBEDDERS, Embedder, list_embedders, load_embedder

__all__ = ["EMBEDDERS", "Embedder", "list_embedders", "load_embedder"]
