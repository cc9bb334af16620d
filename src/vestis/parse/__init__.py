"""Parsers: a photo → the items in it (one for a product shot; each worn garment for a photo of a person).

>>> from vestis.parse import list_parsers
>>> "whole" in list_parsers()
True
"""

from __future__ import annotations

from vestis.parse.base import COARSE, PARSERS, Parsed, Parser, Region, list_parsers, load_parser

__all__ = ["COARSE", "PARSERS", "Parsed", "Parser", "Region", "list_parsers", "load_parser"]
