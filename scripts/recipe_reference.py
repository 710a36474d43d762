#!/usr/bin/env python3
"""The README's recipe reference, generated from the recipe schema (`internpipe schema`).

    python scripts/recipe_reference.py          # rewrite the section in README.md
    python scripts/recipe_reference.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
START, END = "<!-- recipe-reference:start -->", "<!-- recipe-reference:end -->"


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1].removeprefix("stage_")
    if "enum" in prop:
        return " \\| ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        return " \\| ".join(_type(p, defs) for p in prop["anyOf"] if p.get("type") != "null")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map of {_type(prop['additionalProperties'], defs)}"
    return str(kind)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    value = prop.get("default")
    return "" if value is None else f"`{json.dumps(value, ensure_ascii=False)}`"


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                      ("exclusiveMaximum", "<"), ("minLength", "length ≥"),
                      ("minItems", "items ≥")):
        if key in prop:
            parts.append(f"{sign} {prop[key]}")
    for sub in prop.get("anyOf", []):
        parts += [p for p in [_limits(sub)] if p]
    return ", ".join(parts)


def table(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    lines = [f"**{name}**", "", "| key | type | default | notes |", "|---|---|---|---|"]
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        notes = " ".join(x for x in (prop.get("description", ""), _limits(prop)) if x)
        default = _default(prop, key in required)
        lines.append(f"| `{key}` | {_type(prop, defs)} | {default} | "
                     f"{notes.replace('|', '/')} |")
    return [*lines, ""]


def reference() -> str:
    from internpipe import recipe

    schema = recipe.json_schema()
    defs = schema["$defs"]
    top = {k: v for k, v in schema["properties"].items() if k != "stages"}
    top_required = [k for k in schema.get("required", []) if k != "stages"]
    lines = ["Generated from the schema by `scripts/recipe_reference.py`; `internpipe schema`",
             "prints the JSON Schema itself. Every stage also takes `uses: KIND` (when its",
             "name is not its kind) and `resources:` (overriding the recipe's).", ""]
    lines += table("recipe", {"properties": top, "required": top_required}, defs)
    for name, sub in defs.items():
        title = f"stages.{name.removeprefix('stage_')}" if name.startswith("stage_") else name
        lines += table(title, sub, defs)
    return "\n".join(lines)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{reference()}\n{END}{tail}"
    if "--check" in sys.argv:
        if new != text:
            print("README.md's recipe reference is out of date: run "
                  "python scripts/recipe_reference.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
