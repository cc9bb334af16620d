"""The schema as a JSON Schema for structured outputs: OpenAI ``response_format``, vLLM, grammars.

Structured-output engines accept a strict subset of JSON Schema: every property required,
no additional properties, no defaults, nullability spelled as a ``null`` type. This is that
subset, built from the fields directly (the pydantic model's JSON Schema has defaults and
``anyOf`` wrappers that strict engines reject). A closed single field is an enum with ``null``;
a multi field an array of its values (possibly empty); a text field a string or ``null``.

>>> from vestis.schema import load_schema
>>> s = structured_output_schema(load_schema("denali"))
>>> s["properties"]["color"]["enum"][:3], s["required"][:2], s["additionalProperties"]
(['black', 'white', 'grey'], ['type', 'color'], False)
"""

from __future__ import annotations

from typing import Any

from vestis.schema.model import Schema


def structured_output_schema(schema: Schema) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in schema.fields.values():
        if f.kind == "multi":
            prop: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": list(f.values)}}
        elif f.kind == "single":
            prop = {"type": ["string", "null"] if f.nullable else "string", "enum": list(f.values)}
            if f.nullable:
                prop["enum"].append(None)
        else:
            prop = {"type": ["string", "null"] if f.nullable else "string"}
        if f.description:
            prop["description"] = f.description
        properties[f.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
