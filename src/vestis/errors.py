"""The errors vestis raises on purpose.

:class:`UserError` means "what you gave is wrong" (an input, an option, a file, a name): the
CLI prints its message and exits 2, without a traceback. Anything else that escapes is a bug
and shows its traceback. Each subclass also keeps the built-in base callers expect
(``ValueError``, ``FileNotFoundError``, ``KeyError``), so ``except ValueError`` still works.

>>> issubclass(OptionsError, UserError) and issubclass(OptionsError, ValueError)
True
"""

from __future__ import annotations

import importlib
from types import ModuleType


class VestisError(Exception):
    """Base of every error vestis raises on purpose."""


class UserError(VestisError):
    """Something the user gave is wrong; the message says what and how to fix it."""


class OptionsError(UserError, ValueError):
    """An option or config value that is unknown, of the wrong type or out of range."""


class InputError(UserError, ValueError):
    """A request the library refuses: an empty query, a k out of bounds, a text too long."""


class MissingExtra(UserError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` saying which ``vestis[extra]`` installs it.

    >>> require("json", "report", "a report").__name__
    'json'
    >>> require("no_such_module", "report", "the HTML report")
    Traceback (most recent call last):
    ...
    vestis.errors.MissingExtra: the HTML report needs no_such_module: pip install 'vestis[report]'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtra(f"{purpose} needs {top}: pip install 'vestis[{extra}]'") from None


__all__ = ["InputError", "MissingExtra", "OptionsError", "UserError", "VestisError", "require"]
