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


def model_source(s: Schema) -> str:
    """Python source of a pydantic model equivalent to :func:`build_model` (for users who vendor it)."""
    lines = [
        "from typing import Literal, Optional",
        "",
        "from pydantic import BaseModel, ConfigDict, Field",
        "",
        "",
        f"class {s.pydantic_model().__name__}(BaseModel):",
        '    model_config = ConfigDict(extra="forbid")',
    ]
    for f in s.fields.values():
        if f.kind == "text":
            ann, extra = (
                "str",
                f"max_length={f.max_length}" + (f", pattern={f.pattern!r}" if f.pattern else ""),
            )
        else:
            ann, extra = "Literal[" + ", ".join(repr(v) for v in f.values) + "]", ""
        if f.kind == "multi":
            lines.append(f"    {f.name}: list[{ann}] = Field(default_factory=list)")
        elif f.nullable:
            sep = ", " if extra else ""
            lines.append(f"    {f.name}: Optional[{ann}] = Field(default=None{sep}{extra})")
        else:
            lines.append(f"    {f.name}: {ann} = Field(...{', ' + extra if extra else ''})")
    return "\n".join(lines)
