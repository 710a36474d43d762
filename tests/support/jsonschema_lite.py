"""A JSON Schema validator for the keywords internpipe's event schema uses (the test venv
has no jsonschema package). A schema using any other keyword is refused, so a new keyword
can never pass unchecked."""

from __future__ import annotations

from typing import Any

ANNOTATIONS = {"$schema", "$id", "title", "description"}
KEYWORDS = {"type", "required", "properties", "enum", "const", "items", "allOf", "if",
            "then"} | ANNOTATIONS
TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool,
                         "null": type(None)}


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def errors(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{where}: keywords this validator does not know: {sorted(unknown)}")
    found: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, n) for n in names):
            return [f"{where}: {value!r:.60} is not of type {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r:.60} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r:.60} is not one of the declared values")
    if isinstance(value, dict):
        found += [f"{where}: {key!r} is missing" for key in schema.get("required", [])
                  if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += errors(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], f"{where}[{i}]")
    for sub in schema.get("allOf", []):
        found += errors(value, sub, where)
    if "if" in schema and not errors(value, schema["if"], where):
        found += errors(value, schema.get("then", {}), where)
    return found
