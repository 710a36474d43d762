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
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _data_path(data, tuple(err["loc"]))
        path = (*prefix, *loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            key = str(loc[-1])
            hint = suggest(key, allowed)
            listing = f" (allowed: {', '.join(allowed)})" if allowed and not hint else ""
            message = f"unknown key {key!r}{hint}{listing}"
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = err["msg"]
            if "input" in err and kind != "value_error" and not isinstance(
                    err["input"], dict | list):
                message += f" (got {err['input']!r})"
        out.append(smap.problem(path, message))
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's `loc` with the union members' tags (e.g. 'list[str]') taken out: a part is
    kept when it is a key or index of the data, or the last part (a missing/extra key)."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if _has_item(node, part):
            node = node[part]
        elif i != len(loc) - 1:
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
