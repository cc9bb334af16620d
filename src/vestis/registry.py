"""One registry per extension point (extractors, datasets, embedders, indexes, scorers, recipes).

Adding a backend is one decorator line in a module of the package's built-ins; the
registry imports those modules itself the first time it is asked for a name (``get``,
``names``, ``describe``, ``in``), so no caller has to import them first. Third parties
register through the entry point group named by the registry (for example ``vestis.extractors``).

>>> from vestis.registry import Registry
>>> THINGS = Registry("things")
>>> @THINGS.register("hello")
... class Hello: ...
>>> THINGS.get("hello") is Hello
True
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Generic, TypeVar

from vestis.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    """Raised for a name no backend is registered under; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a readable sentence
        return str(self.args[0])


class Registry(Generic[T]):
    """A name → object table filled lazily: built-in modules first, then entry points.

    ``builtins`` names the module(s) whose import registers the built-in entries (for example
    ``"vestis.extract.backends"``).
    """

    def __init__(
        self, kind: str, entry_point_group: str | None = None, builtins: str | Sequence[str] = ()
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.builtins = (builtins,) if isinstance(builtins, str) else tuple(builtins)
        self._items: dict[str, T] = {}
        self._loaded_entry_points = entry_point_group is None
        self._loaded_builtins = not self.builtins

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def _load_entry_points(self) -> None:
        if not self._loaded_builtins:
            self._loaded_builtins = True  # set first: a built-in module may ask for a name while importing
            try:
                for module in self.builtins:
                    importlib.import_module(module)
            except BaseException:
                self._loaded_builtins = False
                raise
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            known = sorted(self._items)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known) or '(none)'}"
            ) from None

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def describe(self) -> dict[str, str]:
        """Each name with a line of description (what ``vestis list`` shows).

        The line is the entry's ``description`` attribute when it is a string, else the first
        line of its docstring.
        """
        self._load_entry_points()
        out = {}
        for name in sorted(self._items):
            obj = self._items[name]
            text = getattr(obj, "description", None)
            doc = (text if isinstance(text, str) and text else getattr(obj, "__doc__", None) or "").strip()
            out[name] = doc.splitlines()[0].strip() if doc else ""
        return out

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items
