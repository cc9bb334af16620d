"""Every extension point and what is registered in it: what ``vestis list`` prints.

>>> from vestis.components import list_components
>>> "lite" in list_components("extractors")["extractors"]
True
"""

from __future__ import annotations

from collections.abc import Callable

from vestis.errors import OptionsError


def _registry(module: str, name: str) -> Callable[[], dict[str, str]]:
    def describe() -> dict[str, str]:
        import importlib

        return importlib.import_module(module).__dict__[name].describe()

    return describe


def _schemas() -> dict[str, str]:
    from vestis.schema import list_schemas, load_schema

    out = {}
    for name in list_schemas():
        text = load_schema(name).description.strip()
        out[name] = text.splitlines()[0].strip() if text else ""
    return out


KINDS: dict[str, Callable[[], dict[str, str]]] = {
    "extractors": _registry("vestis.extract.base", "EXTRACTORS"),
    "embedders": _registry("vestis.embed.base", "EMBEDDERS"),
    "parsers": _registry("vestis.parse.base", "PARSERS"),
    "indexes": _registry("vestis.catalog.index.base", "INDEXES"),
    "datasets": _registry("vestis.data.base", "DATASETS"),
    "scorers": _registry("vestis.outfits.base", "SCORERS"),
    "schemas": _schemas,
    "recipes": _registry("vestis.train.recipes", "RECIPES"),
    "evaluators": _registry("vestis.eval.base", "EVALUATORS"),
}


def list_components(kind: str | None = None) -> dict[str, dict[str, str]]:
    """``{kind: {name: one-line description}}`` for every kind, or for ``kind`` alone.

    Kinds: extractors, embedders, indexes, datasets (adapters), scorers, schemas, recipes and
    evaluators. Entry-point plugins are included.
    """
    if kind is None:
        return {k: describe() for k, describe in KINDS.items()}
    if kind not in KINDS:
        raise OptionsError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    return {kind: KINDS[kind]()}


__all__ = ["KINDS", "list_components"]
