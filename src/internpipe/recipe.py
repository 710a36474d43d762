"""The recipe: YAML → validated models, with every problem located (file:line field) and
reported together.

Validation runs in passes over the same source map: the top level, then each stage's section
against its kind's Options model, then the references between stages. Each pass adds to one
problem list; only an empty list yields a Recipe.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from internpipe import stages as registry
from internpipe import yamlsrc
from internpipe.errors import Problem, RecipeError, UserError

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlurmResources(Strict):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    extra_args: list[str] = Field(default_factory=list)


class Resources(Strict):
    launcher: Literal["local", "slurm"] = "local"
    nodes: int = Field(1, ge=1)
    gpus_per_node: int | None = Field(None, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    mem: str | None = None
    time: str | None = None
    slurm: SlurmResources | None = None


class TopLevel(Strict):
    version: Literal[1]
    name: str | None = Field(None, pattern=NAME_RE.pattern)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    stages: dict[str, Any] = Field(min_length=1)  # each section is checked by its kind
    resources: Resources = Field(default_factory=Resources)
    tools: dict[str, str] = Field(
        default_factory=dict,
        description="tool name → an existing Python interpreter to use instead of a managed env",
    )


@dataclass
class StageSection:
    name: str
    kind: str
    options: BaseModel
    inputs: dict[str, list[str]] = field(default_factory=dict)
    resources: Resources | None = None


@dataclass
class Recipe:
    path: Path
    name: str
    device: str
    stages: dict[str, StageSection]     # in recipe order
    order: list[str]                    # execution order (dependencies first)
    resources: Resources
    tools: dict[str, str]

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def workdir(self) -> Path:
        return self.dir / ".internpipe" / self.name


# --------------------------------------------------------------------------- loading


def load(path: Path | str, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such recipe file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a recipe file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(data, path, overrides or [])


def parse(data: bytes, path: Path, overrides: list[str]) -> Recipe:
    file = str(path)
    raw, smap, problems = yamlsrc.load(data, file)
    if raw is None:
        raise RecipeError(problems or [Problem(file, 1, "", "the file is empty")])
    # Structural problems (duplicate keys, merge keys) do not stop the schema checks: every
    # problem of the file is reported at once.
    if not isinstance(raw, dict):
        raise RecipeError([Problem(file, smap.line_of(()), "",
                                   f"a recipe is a mapping of keys (version, name, stages, …), "
                                   f"got {_type_name(raw)}")])
    apply_overrides(raw, overrides, smap)
    recipe = _validate(raw, smap, path, problems)
    if problems or recipe is None:
        raise RecipeError(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    return recipe


def apply_overrides(raw: dict[str, Any], overrides: list[str], smap: yamlsrc.SourceMap) -> None:
    """`--set stages.finetune.epochs=3`: the value is read as YAML (3 → int, [a, b] → list)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = [p for p in key.strip().split(".")]
        if not sep or not all(parts):
            raise UserError(f"--set {item!r}: expected DOTTED.KEY=VALUE, e.g. "
                            "stages.finetune.epochs=3")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, dict | list) and not value.strip().startswith(("{", "[")):
            parsed = value   # e.g. "?" or "- x": meant as text, not YAML structure
        if parsed is None and value.strip() not in ("", "~", "null", "Null", "NULL"):
            parsed = value   # e.g. "#": YAML reads a comment, the user meant the text
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise UserError(f"--set {item!r}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = parsed
        smap.overrides[tuple(parts)] = f"--set {key.strip()}"


# --------------------------------------------------------------------------- validation


def _validate(raw: dict[str, Any], smap: yamlsrc.SourceMap, path: Path,
              problems: list[Problem]) -> Recipe | None:
    try:
        top = TopLevel.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, smap, (), TopLevel, raw))
        # Stage sections are still checked so every problem of the file is reported at once.
        top = None
    raw_stages = raw.get("stages")
    sections: dict[str, StageSection] = {}
    if isinstance(raw_stages, dict):
        for name, section in raw_stages.items():
            parsed = _validate_stage(name, section, smap, problems)
            if parsed is not None:
                sections[name] = parsed
    stage_names = list(raw_stages) if isinstance(raw_stages, dict) else []
    if top is None or len(sections) != len(stage_names):
        _check_reference_names(sections, stage_names, smap, problems)
        return None
    order = _resolve_references(sections, smap, problems)
    if order is None:
        return None
    name = top.name or _default_name(path)
    if not NAME_RE.match(name):
        problems.append(Problem(str(path), None, "name",
                                f"no `name:` given and the file name {path.stem!r} is not a valid "
                                "work dir name; add `name: my-recipe`"))
        return None
    return Recipe(path=path.resolve(), name=name, device=top.device, stages=sections,
                  order=order, resources=top.resources, tools=top.tools)


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or "recipe"


def _validate_stage(name: str, section: Any, smap: yamlsrc.SourceMap,
                    problems: list[Problem]) -> StageSection | None:
    where = ("stages", name)
    if not NAME_RE.match(name):
        problems.append(smap.problem(where, "stage names are lower-case letters, digits, "
                                            "'-' and '_', starting with a letter"))
        return None
    if section is None:
        section = {}
    if not isinstance(section, dict):
        problems.append(smap.problem(where, f"a stage is a mapping of options, "
                                            f"got {_type_name(section)}"))
        return None
    options = dict(section)
    kinds = registry.kind_names()
    uses = options.pop("uses", None)
    resources_raw = options.pop("resources", None)
    if uses is not None and (not isinstance(uses, str) or uses not in kinds):
        problems.append(smap.problem((*where, "uses"),
                                     f"unknown stage kind {uses!r}{_suggest(uses, kinds)}; "
                                     f"kinds: {', '.join(kinds)}"))
        return None
    kind_name = uses or name
    if kind_name not in kinds:
        problems.append(smap.problem(where,
                                     f"{name!r} is not a stage kind{_suggest(name, kinds)}; "
                                     f"name a stage after its kind ({', '.join(kinds)}) or "
                                     "add `uses: KIND`"))
        return None
    kind = registry.declaration(kind_name)
    ok = True
    resources = None
    if resources_raw is not None:
        try:
            resources = Resources.model_validate(resources_raw)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, smap, (*where, "resources"), Resources,
                                               resources_raw))
            ok = False
    try:
        opts = kind.Options.model_validate(options)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, smap, where, kind.Options, options))
        return None
    if not ok:
        return None
    return StageSection(name=name, kind=kind_name, options=opts, resources=resources)


def _resolve_references(sections: dict[str, StageSection], smap: yamlsrc.SourceMap,
                        problems: list[Problem]) -> list[str] | None:
    """Fill each section's `inputs` and return an execution order, or None on problems."""
    names = list(sections)
    produces = {n: registry.declaration(s.kind).PRODUCES for n, s in sections.items()}
    start = len(problems)
    for index, (name, section) in enumerate(sections.items()):
        for spec in registry.declaration(section.kind).INPUTS:
            value = getattr(section.options, spec.field, None)
            where = ("stages", name, spec.field)
            if value is None and spec.unless and getattr(section.options, spec.unless, None):
                section.inputs[spec.field] = []
                continue
            if value is None:
                earlier = [n for n in names[:index] if produces[n] in spec.accepts]
                chosen = _default_inputs(spec.default, earlier)
                if chosen is None:
                    wanted = " or ".join(sorted(spec.accepts))
                    problems.append(smap.problem(
                        ("stages", name),
                        f"needs a {wanted} as `{spec.field}` but no stage before it produces "
                        f"one; add a stage that does (e.g. download) or name one with "
                        f"`{spec.field}:`"))
                    continue
                section.inputs[spec.field] = chosen
                continue
            refs = value if isinstance(value, list) else [value]
            resolved: list[str] = []
            for i, ref in enumerate(refs):
                at = (*where, i) if isinstance(value, list) else where
                if not isinstance(ref, str) or not ref:
                    problems.append(smap.problem(at, "expected a stage name"))
                elif ref not in sections:
                    problems.append(smap.problem(
                        at, f"no stage named {ref!r}{_suggest(ref, names)}"))
                elif ref == name:
                    problems.append(smap.problem(at, "a stage cannot use its own output"))
                elif produces[ref] not in spec.accepts:
                    problems.append(smap.problem(
                        at, f"stage {ref!r} produces {produces[ref]}, but {spec.field!r} needs "
                            f"{' or '.join(sorted(spec.accepts))}"))
                else:
                    resolved.append(ref)
            section.inputs[spec.field] = resolved
    if len(problems) > start:
        return None
    return _execution_order(sections, smap, problems)


def _check_reference_names(sections: dict[str, StageSection], all_names: list[str],
                           smap: yamlsrc.SourceMap, problems: list[Problem]) -> None:
    """When some stages are invalid, still report references to stages that do not exist."""
    for name, section in sections.items():
        for spec in registry.declaration(section.kind).INPUTS:
            value = getattr(section.options, spec.field, None)
            refs = value if isinstance(value, list) else [value] if value else []
            for i, ref in enumerate(refs):
                if isinstance(ref, str) and ref not in all_names:
                    at: yamlsrc.Path = ("stages", name, spec.field,
                                        *([i] if isinstance(value, list) else []))
                    problems.append(smap.problem(at, f"no stage named {ref!r}"
                                                     f"{_suggest(ref, all_names)}"))


def _default_inputs(rule: str, earlier: list[str]) -> list[str] | None:
    if rule == "none":
        return []
    if not earlier:
        return None
    if rule == "first_and_nearest":
        return list(dict.fromkeys([earlier[0], earlier[-1]]))
    return [earlier[-1]]


def _execution_order(sections: dict[str, StageSection], smap: yamlsrc.SourceMap,
                     problems: list[Problem]) -> list[str] | None:
    """Recipe order, except that a stage waits for the stages it names (stable topological
    sort). A cycle is reported with its members."""
    deps = {n: {d for refs in s.inputs.values() for d in refs} for n, s in sections.items()}
    order: list[str] = []
    done: set[str] = set()
    pending = list(sections)
    while pending:
        ready = next((n for n in pending if deps[n] <= done), None)
        if ready is None:
            cycle = " → ".join([*pending, pending[0]])
            problems.append(smap.problem(("stages", pending[0]),
                                         f"stages depend on each other in a cycle: {cycle}"))
            return None
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    return order


# --------------------------------------------------------------------------- messages


def _suggest(word: Any, choices: list[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false", type(None): "nothing"}.get(type(value), type(value).__name__)


def _pydantic_problems(exc: ValidationError, smap: yamlsrc.SourceMap,
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
            hint = _suggest(key, allowed)
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


# --------------------------------------------------------------------------- schema


def json_schema() -> dict[str, Any]:
    """JSON Schema of a recipe: the top level, with each stage kind's options."""
    schema = TopLevel.model_json_schema()
    defs = schema.setdefault("$defs", {})
    kind_refs = []
    for kind_name in registry.kind_names():
        kind = registry.declaration(kind_name)
        sub = kind.Options.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        sub.setdefault("properties", {})["uses"] = {"const": kind_name}
        sub["properties"]["resources"] = {"$ref": "#/$defs/Resources"}
        defs[f"stage_{kind_name}"] = sub
        kind_refs.append(kind_name)
    schema["properties"]["stages"] = {
        "type": "object",
        "minProperties": 1,
        "description": "ordered stages; a stage's name is its kind unless `uses:` says",
        "properties": {k: {"anyOf": [{"$ref": f"#/$defs/stage_{k}"}, {"type": "null"}]}
                       for k in kind_refs},
        "additionalProperties": {"anyOf": [{"$ref": f"#/$defs/stage_{k}"} for k in kind_refs]},
    }
    schema["title"] = "internpipe recipe"
    return schema
