"""Typed options: unknown keys, wrong types and out-of-range values refused before any work starts.

One checker serves recipe configs (dataclasses whose fields carry ``help``, and optionally
``min``/``max`` in their metadata) and backend options (the keyword parameters of a backend's
constructor). Values are checked against the type hints: ``int`` accepts only integers,
``float`` integers and floats, ``bool`` only booleans, ``X | None`` also ``None``, ``Literal``
its listed values, ``list[X]`` lists of X. A value from the command line arrives already
parsed (``--set epochs=3`` is the integer 3), so ``epochs=abc`` is an error here, not after
twenty seconds of work.

>>> from dataclasses import dataclass, field
>>> @dataclass
... class C:
...     epochs: int = field(default=1, metadata={"min": 1})
>>> check_fields(C, {"epochs": 3})
{'epochs': 3}
>>> check_fields(C, {"epochs": "abc"})
Traceback (most recent call last):
...
vestis.errors.OptionsError: epochs must be an integer, not 'abc'
>>> check_fields(C, {"epoch": 3})
Traceback (most recent call last):
...
vestis.errors.OptionsError: unknown option 'epoch' (did you mean 'epochs'?); known: epochs
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from vestis.errors import OptionsError


def check_fields(cls: type, data: Mapping[str, Any], what: str = "option") -> dict[str, Any]:
    """Check ``data`` against a dataclass's fields (type hints and ``min``/``max`` metadata)."""
    hints = typing.get_type_hints(cls)
    specs = {f.name: (hints.get(f.name, Any), dict(f.metadata)) for f in dataclasses.fields(cls)}
    return _check(specs, data, what)


def check_kwargs(func: Callable[..., Any], data: Mapping[str, Any], what: str = "option") -> dict[str, Any]:
    """Check ``data`` against the keyword parameters of ``func`` (a constructor, say)."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: names are still checked
        hints = {}
    specs = {
        name: (hints.get(name, Any), {})
        for name, p in inspect.signature(func).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
    }
    return _check(specs, data, what)


def _check(specs: dict[str, tuple[Any, dict]], data: Mapping[str, Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in specs:
            close = difflib.get_close_matches(str(key), list(specs), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionsError(f"unknown {what} {key!r}{hint}; known: {', '.join(sorted(specs)) or '(none)'}")
        hint_type, meta = specs[key]
        problem = _type_problem(value, hint_type)
        if problem:
            raise OptionsError(f"{key} must be {problem}, not {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "min" in meta and value < meta["min"]:
                raise OptionsError(f"{key} must be at least {meta['min']}, not {value!r}")
            if "max" in meta and value > meta["max"]:
                raise OptionsError(f"{key} must be at most {meta['max']}, not {value!r}")
        out[key] = value
    return out


def _type_problem(value: Any, hint: Any) -> str | None:
    """None when ``value`` fits ``hint``, else a description of what was expected."""
    if hint is Any or hint is object:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if any(_type_problem(value, h) is None for h in options):
            return None
        return " or ".join(p for h in options if (p := _type_problem(value, h)))
    if hint is type(None):
        return None if value is None else "null"
    if origin is Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else "one of " + ", ".join(map(repr, allowed))
    if origin in (list, tuple, set, frozenset):
        if not isinstance(value, (list, tuple)):
            return "a list"
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        bad = next((p for v in value if (p := _type_problem(v, inner))), None)
        return f"a list of {bad.removeprefix('a ').removeprefix('an ')}" if bad else None
    if origin in (dict, Mapping):
        return None if isinstance(value, Mapping) else "a mapping"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if isinstance(hint, type):
        return None if isinstance(value, hint) else f"a {hint.__name__}"
    return None  # hints we do not interpret (protocols, callables) are the backend's to check


__all__ = ["check_fields", "check_kwargs"]
