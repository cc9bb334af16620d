"""Derive a pydantic model from a :class:`~vestis.schema.model.Schema`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional

from pydantic import ConfigDict, Field, create_model

if TYPE_CHECKING:
    from vestis.schema.model import Schema


def build_model(schema: Schema) -> type:
    definitions: dict[str, Any] = {}
    for f in schema.fields.values():
        extra: dict[str, Any] = {"description": f.description or None}
        if f.kind == "text":
            annotation: Any = str
            extra["max_length"] = f.max_length
            if f.pattern:
                extra["pattern"] = f.pattern
        else:
            literal = Literal[tuple(f.values)]  # type: ignore[valid-type]
            annotation = literal if f.kind == "single" else list[literal]  # type: ignore[valid-type]
        if f.kind == "multi":
            default: Any = Field(default_factory=list, **extra)
        elif f.nullable:
            annotation = Optional[annotation]  # noqa: UP045 (runtime construction)
            default = Field(default=None, **extra)
        else:
            default = Field(..., **extra)
        definitions[f.name] = (annotation, default)
    model_name = (
        "".join(part.capitalize() for part in schema.name.replace("-", "_").split("_")) + "Attributes"
    )
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **definitions)
