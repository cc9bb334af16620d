"""Schema roles: which field plays which part in features that span fields.

Field names are the user's to choose, so nothing outside the schema names one. A schema says
which field is the item's kind, which values a text query may name, and which fields a listing
shows, in a top-level ``roles`` mapping:

.. code-block:: yaml

    roles:
      category: kind_of_garment      # the item-kind field: outfit slots, complete-the-look, scorers
      primary_colour: shade          # colour-aware backends (pixel-colour, data adapters)
      mentionable: [kind_of_garment, shade, print]   # values a text query may name (hybrid ranking)
      plurals: [kind_of_garment]     # of those, fields a query may name in the plural ("dresses")
      listing: [kind_of_garment, shade, print]       # columns of search/outfit listings, catalog stats

A field-role (``category``, ``primary_colour``, ``secondary_colour``, ``brand``, ``size``, or a
name of a third-party backend's own) names one field; ``role: NAME`` inside a field spec is
shorthand for it. A list role names fields in order. What a schema leaves out is derived from its fields:
``mentionable`` = every closed field; ``plurals`` = the category field and the fields whose
``parent`` it is; ``listing`` = the category field then the other closed fields, five in all;
no field-role is ever guessed from a field's name (features that need one say so).

>>> from vestis.schema import load_schema
>>> s = load_schema("vestis")
>>> s.roles.fields["category"], s.roles.plurals
('category', ('category', 'type'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vestis.schema.model import Field

LIST_ROLES = ("mentionable", "plurals", "listing")
# field-roles vestis itself uses, with the kind of field each needs
FIELD_ROLES = {
    "category": "single",
    "primary_colour": "closed",
    "secondary_colour": "closed",
    "brand": None,  # any kind: read from labels by the lite backend's label reader
    "size": None,
}
DEFAULT_LISTING = 5  # fields a listing shows when the schema does not say


@dataclass(frozen=True)
class Roles:
    """A schema's roles, defaults filled in; built by :func:`parse_roles`."""

    fields: dict[str, str]  # field-role → field name
    mentionable: tuple[str, ...] = ()
    plurals: tuple[str, ...] = ()
    listing: tuple[str, ...] = ()

    def of(self, field_name: str) -> list[str]:
        """The roles a field plays, field-roles first (for ``vestis schema show``)."""
        out = [role for role, name in self.fields.items() if name == field_name]
        return out + [role for role in LIST_ROLES if field_name in getattr(self, role)]

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields, **{role: list(getattr(self, role)) for role in LIST_ROLES}}


def parse_roles(raw: Any, fields: dict[str, Field], where: str) -> Roles:
    """Roles from a schema's ``roles`` mapping and its fields' ``role`` keys; SchemaError naming the key."""
    from vestis.schema.model import SchemaError

    def fail(message: str) -> SchemaError:
        return SchemaError(f"{where}: {message}")

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise fail(f"'roles' must be a mapping of role → field (or list of fields), got {type(raw).__name__}")
    by_role: dict[str, str] = {}
    for f in fields.values():
        if f.role is not None:
            if f.role in by_role:
                raise fail(f"role {f.role!r} is given to both {by_role[f.role]!r} and {f.name!r}")
            by_role[f.role] = f.name
    lists: dict[str, tuple[str, ...]] = {}
    for role, value in raw.items():
        key = f"roles.{role}"
        if not isinstance(role, str) or not role:
            raise fail(f"'roles' keys must be role names, got {role!r}")
        if role in LIST_ROLES:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(f"{key} must be a list of field names, got {value!r}")
            for name in value:
                _check_field(fail, key, name, fields, "closed" if role != "listing" else None)
            if len(set(value)) != len(value):
                raise fail(f"{key} names a field twice: {value}")
            lists[role] = tuple(value)
            continue
        if not isinstance(value, str):
            hint = f" (list roles are {', '.join(LIST_ROLES)})" if isinstance(value, list) else ""
            raise fail(f"{key} must name one field, got {value!r}{hint}")
        if by_role.get(role, value) != value:
            raise fail(f"{key} is {value!r}, but field {by_role[role]!r} has role {role!r}")
        by_role[role] = value
    players: dict[str, str] = {}
    for role, name in by_role.items():
        _check_field(fail, f"roles.{role}", name, fields, FIELD_ROLES.get(role))
        if name in players:
            raise fail(f"field {name!r} has two roles, {players[name]!r} and {role!r}")
        players[name] = role
    category = by_role.get("category")
    closed = [n for n, f in fields.items() if f.closed]
    mentionable = lists.get("mentionable", tuple(closed))
    if "plurals" in lists:
        if stray := [n for n in lists["plurals"] if n not in mentionable]:
            raise fail(f"roles.plurals names {stray}, which roles.mentionable does not")
        plurals = lists["plurals"]
    else:
        kinds = [category, *(n for n, f in fields.items() if category and f.parent == category)]
        plurals = tuple(n for n in kinds if n and n in mentionable)
    if "listing" in lists:
        listing = lists["listing"]
    else:
        order = [category, *(n for n in closed if n != category)] if category else closed
        listing = tuple(order[:DEFAULT_LISTING])
    return Roles(dict(by_role), tuple(mentionable), plurals, listing)


def _check_field(fail, key: str, name: str, fields: dict[str, Field], kind: str | None) -> None:
    f = fields.get(name)
    if f is None:
        raise fail(f"{key} names {name!r}, which is not a field ({', '.join(fields)})")
    if kind == "closed" and not f.closed:
        raise fail(f"{key} names {name!r}, a text field; it needs a closed (single or multi) field")
    if kind == "single" and f.kind != "single":
        raise fail(f"{key} names {name!r}, a {f.kind} field; it needs a single field")
