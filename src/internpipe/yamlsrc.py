"""YAML loading that remembers where every value came from.

The recipe schema reports errors as file:line field, so the loader keeps a map from each
value's path (a tuple of keys and list indexes) to its 1-based line. Duplicate keys, which
plain PyYAML silently collapses, are errors here.

Only plain data is built, in bounded time and memory: strings, numbers, booleans, null,
lists and mappings. Any other tag (!!binary, !!set, a custom one) and a tagged value that
is not what its tag says (`!!int abc`) are problems at their line; an alias inside its own
anchor, nesting deeper than MAX_DEPTH and more than MAX_ALIASED values reached through
aliases (a "billion laughs" bomb) stop the build with one problem. Lines count "\n" only.
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
        self.unbuilt: set[str] = set()    # values (dotted) that could not be built: None

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


MAX_DEPTH = 32          # levels of nesting; a recipe needs six
MAX_ALIASED = 10_000    # values reached through aliases, all together (an alias bomb: 10^9)
_TAG = "tag:yaml.org,2002:"
_PLAIN = {f"{_TAG}{t}" for t in ("int", "float", "bool", "null")}
# libyaml (YAML 1.1) breaks lines at U+2028, U+2029 and NEL too, which no editor shows and
# JSON keeps inside strings: they are hidden as noncharacters while libyaml reads the text,
# so a raw U+2028 is text and line numbers count "\n" only.
_HIDE = {0x2028: 0xFDD0, 0x2029: 0xFDD1, 0x85: 0xFDD2}
_SHOW = {v: k for k, v in _HIDE.items()}


class _Refused(Exception):
    """The document cannot be built (a recursive alias, too deep, an alias bomb)."""

    def __init__(self, line: int | None, path: Path, message: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


class _Builder:
    """Nodes → plain values, with every value's line in the source map. Aliases are values
    shared between places: an alias inside its own anchor and too many values reached
    through aliases are refused, nesting is bounded, and only plain YAML types are built.
    A value reached through an alias is placed at the alias's line."""

    def __init__(self, smap: SourceMap, problems: list[Problem], hidden: bool) -> None:
        self.smap, self.problems, self.hidden = smap, problems, hidden
        self.active: set[int] = set()    # the nodes being built (their ancestors included)
        self.built: set[int] = set()
        self.aliased = 0

    def problem(self, line: int | None, path: Path, message: str) -> None:
        self.problems.append(Problem(self.smap.file, line, dotted(path), message))

    def value(self, node: yaml.Node, path: Path, alias_line: int | None = None) -> Any:
        if alias_line is None and id(node) in self.built:
            alias_line = self.smap.line_of(path) or node.start_mark.line + 1
        line = alias_line or node.start_mark.line + 1
        if id(node) in self.active:
            raise _Refused(line, path, "an alias inside its own anchor (a recursive alias)")
        if len(path) > MAX_DEPTH:
            raise _Refused(line, path, f"values nested more than {MAX_DEPTH} levels deep")
        if alias_line is not None:
            self.aliased += 1
            if self.aliased > MAX_ALIASED:
                raise _Refused(line, path, f"aliases expand to more than {MAX_ALIASED} values "
                                           "(an alias bomb?); write the values out")
        self.built.add(id(node))
        self.smap.lines.setdefault(path, line)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path, line)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path, alias_line)
            if node.tag != f"{_TAG}seq":
                self.problem(line, path, f"YAML tag {short(node.tag)} is not supported")
                self.smap.unbuilt.add(dotted(path))
            return [self.value(item, (*path, i), alias_line)
                    for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: Path,
                alias_line: int | None) -> dict[str, Any]:
        if node.tag != f"{_TAG}map":
            self.problem(alias_line or node.start_mark.line + 1, path,
                         f"YAML tag {short(node.tag)} is not supported")
            self.smap.unbuilt.add(dotted(path))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = alias_line or key_node.start_mark.line + 1
            if key_node.tag == f"{_TAG}merge":
                self.problem(key_line, path, "YAML merge keys (<<) are not supported; write "
                                             "the keys out")
                continue
            key = self.scalar(key_node, path, key_line) \
                if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                shown = key if isinstance(key_node, yaml.ScalarNode) else "a " + (
                    "mapping" if isinstance(key_node, yaml.MappingNode) else "list")
                self.problem(key_line, path, f"keys must be strings, got {shown!r}")
                continue
            if key in out:
                self.problem(key_line, (*path, key), "duplicate key")
                continue
            self.smap.lines[(*path, key)] = key_line
            out[key] = self.value(value_node, (*path, key), alias_line)
        return out

    def scalar(self, node: yaml.Node, path: Path, line: int) -> Any:
        """Strings stay text; int, float, bool and null are built by PyYAML's safe
        constructor; a date-like plain value stays the text written (no recipe value is a
        date); any other tag (!!binary, !!set, a custom one) is refused."""
        text = node.value.translate(_SHOW) if self.hidden else node.value
        tag = node.tag
        if tag == f"{_TAG}str":
            return text
        if tag in _PLAIN or tag == f"{_TAG}timestamp":
            if tag in (f"{_TAG}int", f"{_TAG}float") and ":" in text:
                return text      # YAML 1.1 base 60 (1:30 = 90); YAML 1.2 reads text
            try:
                value = _SCALARS.construct_object(node, deep=True)
            except Exception:    # PyYAML's constructors fail in many ways on garbage
                self.problem(line, path, f"{_clip(text)!r} cannot be read as {short(tag)}")
                self.smap.unbuilt.add(dotted(path))
                return None
            finally:
                _SCALARS.constructed_objects.clear()   # nothing is kept between scalars
            return text if tag == f"{_TAG}timestamp" else value
        self.problem(line, path, f"YAML tag {short(tag)} is not supported; write the value "
                                 "plainly")
        self.smap.unbuilt.add(dotted(path))
        return None


def short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def load(data: bytes, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse YAML bytes. Returns (value, source map, problems); value is None on failure."""
    smap = SourceMap(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte_line = data[: exc.start].count(b"\n") + 1
        what = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        return None, smap, [Problem(file, byte_line, "", what)]
    value, problems = _load_text(text.removeprefix("\ufeff"), smap, ())
    if value is None and not problems:
        problems = [Problem(file, 1, "", "the file is empty")]
    return value, smap, problems


def load_value(text: str, origin: str, path: Path) -> tuple[Any, list[Problem]]:
    """One value written in YAML on a command line (`--set KEY=VALUE`), to go at `path` of a
    document: the same types and limits as a file, its problems reported against `origin`.
    What was meant as text is taken as the text: not YAML (`[a`), structure not written
    as flow (`?`, `- x`), a comment (`#`)."""
    smap = SourceMap(origin)
    node, hidden, syntax = _compose(text, smap, path)
    if syntax is not None:
        return text, []
    if node is None or (isinstance(node, yaml.CollectionNode)
                        and not text.strip().startswith(("{", "["))):
        return text if text.strip() not in ("", "~", "null", "Null", "NULL") else None, []
    value, problems = _build(node, hidden, smap, path)
    return value, [Problem(origin, None, p.field, p.message) for p in problems]


def _load_text(text: str, smap: SourceMap, path: Path) -> tuple[Any, list[Problem]]:
    node, hidden, syntax = _compose(text, smap, path)
    if syntax is not None:
        return None, [syntax]
    return _build(node, hidden, smap, path)


def _compose(text: str, smap: SourceMap,
             path: Path) -> tuple[yaml.Node | None, bool, Problem | None]:
    """(the document's node, whether U+2028 & co. were hidden, a syntax problem)."""
    file = smap.file
    hidden = not any(chr(c) in text for c in _SHOW)
    if hidden:
        text = text.translate(_HIDE)
    try:
        return yaml.compose(text, Loader=_COMPOSER), hidden, None
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
        return None, hidden, Problem(file, syntax_line, dotted(path),
                                     f"YAML syntax error: {what.translate(_SHOW)}")
    except yaml.reader.ReaderError as exc:    # a character YAML does not allow in a file
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        # libyaml counts the position in UTF-8 bytes, PyYAML's reader in characters
        before = text.encode()[:exc.position] if _COMPOSER is not yaml.SafeLoader \
            else text[:exc.position].encode()
        return None, hidden, Problem(
            file, before.count(b"\n") + 1, dotted(path),
            f"the character {char.translate(_SHOW)!r} is not allowed in YAML; in a "
            "double-quoted string write it as an escape (\\t, \\x1b, \\u2028)")
    except yaml.YAMLError as exc:
        return None, hidden, Problem(file, None, dotted(path), f"YAML error: {exc}")
    except RecursionError:     # PyYAML's pure-Python composer, where libyaml is missing
        return None, hidden, Problem(file, None, dotted(path), "YAML nested too deeply")


def _build(node: yaml.Node | None, hidden: bool, smap: SourceMap,
           path: Path) -> tuple[Any, list[Problem]]:
    if node is None:
        return None, []
    problems: list[Problem] = []
    try:
        value = _Builder(smap, problems, hidden).value(node, path)
    except _Refused as exc:
        return None, [Problem(smap.file, exc.line, dotted(exc.path), exc.message)]
    return value, problems
