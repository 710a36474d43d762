"""YAML loading that remembers where every value came from.

The recipe schema reports errors as file:line field, so the loader keeps a map from each
value's path (a tuple of keys and list indexes) to its 1-based line. Duplicate keys, which
plain PyYAML silently collapses, are errors here.
"""

from __future__ import annotations

from typing import Any

import yaml

from internpipe.errors import Problem

Path = tuple[str | int, ...]

# libyaml's composer where PyYAML was built with it (10x faster); its nodes carry the same
# marks. Scalars are constructed by one pure-Python constructor, made once.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = yaml.SafeLoader("")


class SourceMap:
    """Path → line, with a fallback to the nearest enclosing value that has a line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {}
        self.overrides: dict[Path, str] = {}

    def line_of(self, path: Path) -> int | None:
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None

    def problem(self, path: Path, message: str) -> Problem:
        for cut in range(len(path), 0, -1):
            origin = self.overrides.get(tuple(path[:cut]))
            if origin is not None:
                return Problem(origin, None, dotted(path), message)
        return Problem(self.file, self.line_of(path), dotted(path), message)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _construct(node: yaml.Node, path: Path, smap: SourceMap, problems: list[Problem]) -> Any:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(smap.file, key_node.start_mark.line + 1, dotted(path),
                                        "YAML merge keys (<<) are not supported; write the "
                                        "keys out"))
                continue
            key = _scalar(key_node)
            if not isinstance(key, str):
                problems.append(Problem(smap.file, key_node.start_mark.line + 1, dotted(path),
                                        f"keys must be strings, got {key!r}"))
                continue
            if key in out:
                problems.append(Problem(smap.file, key_node.start_mark.line + 1,
                                        dotted((*path, key)), "duplicate key"))
                continue
            smap.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), smap, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), smap, problems) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return repr(node.tag)
    value = _SCALARS.construct_object(node, deep=True)
    _SCALARS.constructed_objects.clear()   # nothing is kept between scalars
    return value


def load(data: bytes, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse YAML bytes. Returns (value, source map, problems); value is None on failure."""
    smap = SourceMap(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte_line = data[: exc.start].count(b"\n") + 1
        what = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        return None, smap, [Problem(file, byte_line, "", what)]
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{what} ({exc.context})"
        if exc.context_mark and "end of stream" in what:
            # An unclosed quote or bracket: where it opened is what the user must fix.
            mark = exc.context_mark
            what += f", opened at line {mark.line + 1} column {mark.column + 1}"
        syntax_line = mark.line + 1 if mark else None
        return None, smap, [Problem(file, syntax_line, "", f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, smap, [Problem(file, None, "", f"YAML error: {exc}")]
    if node is None:
        return None, smap, [Problem(file, 1, "", "the file is empty")]
    problems: list[Problem] = []
    try:
        value = _construct(node, (), smap, problems)
    except yaml.YAMLError as exc:
        problem_mark = getattr(exc, "problem_mark", None)
        error_line = problem_mark.line + 1 if problem_mark else None
        return None, smap, [Problem(file, error_line, "", f"YAML error: {exc}")]
    return value, smap, problems
