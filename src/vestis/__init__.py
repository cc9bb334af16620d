"""vestis: fashion image understanding.

A photo in, validated structured attributes out; a catalog in, searchable by text, photo and
photo + modification, and outfits completed from it. The small public API:

>>> import vestis
>>> schema = vestis.load_schema("vestis")
>>> schema.validate('{"category": "Dress", "colour": "navy blue"}').value["colour"]
'navy'
>>> from PIL import Image
>>> extractor = vestis.load_extractor("pixel-colour")       # "lite" (the embedded model) by default
>>> extractor.extract(Image.new("RGB", (64, 64), (200, 20, 30))).attributes["colour"]
'red'
>>> embedder = vestis.load_embedder("test-random", dim=8)    # "lite" by default; "hf-clip" for CLIP/SigLIP
>>> embedder.embed_texts("red dress").shape
(1, 8)

``vestis.Catalog`` (create/open a catalog directory), ``vestis.ingest`` (add images to it),
``vestis.Searcher`` (query it) and ``vestis.load_scorer`` (outfit compatibility) complete it.
Heavy parts load on first use: ``import vestis`` imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vestis.errors import UserError, VestisError
from vestis.schema import Schema, ValidationResult, list_schemas, load_schema

__version__ = "0.1.0"

_LAZY = {
    "load_extractor": "vestis.extract.base",
    "list_extractors": "vestis.extract.base",
    "load_embedder": "vestis.embed.base",
    "list_embedders": "vestis.embed.base",
    "Catalog": "vestis.catalog.catalog",
    "CatalogConfig": "vestis.catalog.catalog",
    "ingest": "vestis.catalog.ingest",
    "Searcher": "vestis.search.searcher",
    "load_scorer": "vestis.outfits.base",
    "open_dataset": "vestis.data.base",
}

if TYPE_CHECKING:
    from vestis.catalog.catalog import Catalog, CatalogConfig
    from vestis.catalog.ingest import ingest
    from vestis.data.base import open_dataset
    from vestis.embed.base import list_embedders, load_embedder
    from vestis.extract.base import list_extractors, load_extractor
    from vestis.outfits.base import load_scorer
    from vestis.search.searcher import Searcher


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vestis' has no attribute {name!r}")


__all__ = [
    "Catalog",
    "CatalogConfig",
    "Schema",
    "Searcher",
    "UserError",
    "ValidationResult",
    "VestisError",
    "__version__",
    "ingest",
    "list_embedders",
    "list_extractors",
    "list_schemas",
    "load_embedder",
    "load_extractor",
    "load_schema",
    "load_scorer",
    "open_dataset",
]
