"""vestis: fashion image understanding.

One photo of a garment in, validated structured attributes out; a catalog in,
searchable by text, photo and photo + modification.

>>> import vestis
>>> schema = vestis.load_schema("vestis")
>>> schema.validate('{"category": "Dress", "colour": "navy blue"}').value["colour"]
'navy'
"""

from __future__ import annotations

from vestis.schema import Schema, ValidationResult, list_schemas, load_schema

__version__ = "0.1.0"

__all__ = ["Schema", "ValidationResult", "__version__", "list_schemas", "load_schema"]
