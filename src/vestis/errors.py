"""The errors vestis raises on purpose.

:class:`UserError` means "what you gave is wrong" (an input, an option, a file, a name): the
CLI prints its message and exits 2, without a traceback. Anything else that escapes is a bug
and shows its traceback. Each subclass also keeps the built-in base callers expect
(``ValueError``, ``FileNotFoundError``, ``KeyError``), so ``except ValueError`` still works.

>>> issubclass(OptionsError, UserError) and issubclass(OptionsError, ValueError)
True
"""

from __future__ import annotations


class VestisError(Exception):
    """Base of every error vestis raises on purpose."""


class UserError(VestisError):
    """Something the user gave is wrong; the message says what and how to fix it."""


class OptionsError(UserError, ValueError):
    """An option or config value that is unknown, of the wrong type or out of range."""


class InputError(UserError, ValueError):
    """A request the library refuses: an empty query, a k out of bounds, a text too long."""


__all__ = ["InputError", "OptionsError", "UserError", "VestisError"]
