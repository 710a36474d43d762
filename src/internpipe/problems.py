"""Problems in a user's input, as file:line field: message. Translates pydantic's validation
errors (whose locations carry union-member tags and whose messages name Python types) into
what the user wrote, with a did-you-mean for misspelt keys and the allowed keys listed."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from internpipe import yamlsrc
from internpipe.errors import Problem


def suggest(word: Any, choices: list[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def type_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "nothing"}.get(type(value), type(value).__name__)


def pydantic_problems(exc: ValidationError, smap: yamlsrc.SourceMap,
                       prefix: yamlsrc.Path, model: type[BaseModel],
                       data: Any) -> list[Problem]:
    """One problem per value. A union (`int | 'auto'`, `str | {path, …}`) fails once per
    member: what a member said about a value of its own type (a bound, a bad placeholder)
    is kept over the members whose type the value is not, and what remains is joined."""
    found: dict[tuple[Any, ...], list[tuple[bool, str]]] = {}
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = _data_path(data, tuple(err["loc"]), keep_last=kind in ("missing",
                                                                      "extra_forbidden"))
        if kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            key = str(loc[-1])
            hint = suggest(key, allowed)
            listing = f" (allowed: {', '.join(allowed)})" if allowed and not hint else ""
            message = f"unknown key {key!r}{hint}{listing}"
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "input" in err and kind != "value_error" and not isinstance(
                    err["input"], dict | list):
                message += f" (got {_clip(err['input'])})"
        other_type = kind.endswith("_type") or kind == "literal_error"
        found.setdefault(loc, []).append((other_type, message))
    # A member that went deeper into the value (datasets[0].prompt) was the one meant.
    deeper = {loc[:i] for loc in found for i in range(len(loc))}
    out = []
    for loc, said in found.items():
        if loc in deeper and all(other for other, _ in said):
            continue
        own = [m for other, m in said if not other] or [m for _, m in said]
        out.append(smap.problem((*prefix, *loc), "; or ".join(dict.fromkeys(own))))
    return out


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _data_path(data: Any, loc: tuple[Any, ...], keep_last: bool) -> tuple[Any, ...]:
    """pydantic's `loc` with the union members' tags (e.g. 'list[str]') taken out: a part is
    kept when it is a key or index of the data, or (`keep_last`) the missing or unknown key
    it ends with."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if _has_item(node, part):
            node = node[part]
        elif not (keep_last and i == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _has_item(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model reached by following `loc` through nested models."""
    current: Any = model
    for part in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(part, str) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:   # a list index or a dict key: the item type
            current = _item_type(current)
    found = _model_in(current)
    return list(found.model_fields) if found else []


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _model_in(arg)
        if found:
            return found
    return None


def _item_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            item = _item_type(arg)
            if item is not None:
                return item
        return None
    args = typing.get_args(tp)
    if origin in (list, tuple) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return tp
