"""The recipe: YAML → validated models, with every problem located (file:line field) and
reported together.

Validation runs in passes over the same source map: the top level, then each stage's section
against its kind's Options model, then the references between stages. Each pass adds to one
problem list; only an empty list yields a Recipe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from internpipe import references, yamlsrc
from internpipe import stages as registry
from internpipe.errors import Problem, RecipeError, UserError
from internpipe.problems import pydantic_problems, suggest, type_name

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
    interpreters: dict[str, str] = Field(
        default_factory=dict,
        description="tool environment name (xtuner, opencompass, …) → an existing Python "
                    "interpreter to use instead of the managed env",
    )
    # The name before `interpreters:` (it read like the agent stage's `tools:`), still read.
    tools: dict[str, str] | None = Field(None, description="old name of `interpreters`")

    @model_validator(mode="after")
    def _one_name(self) -> TopLevel:
        if self.tools is not None:
            if self.interpreters:
                raise ValueError("`tools:` is the old name of `interpreters:`; keep one")
            self.interpreters, self.tools = self.tools, None
        return self


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
    interpreters: dict[str, str]   # tool env → an existing interpreter (the escape hatch)

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
                                   f"got {type_name(raw)}")])
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
        problems.extend(pydantic_problems(exc, smap, (), TopLevel, raw))
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
        references.check_names(sections, stage_names, smap, problems)
        return None
    order = references.resolve(sections, smap, problems)
    if order is None:
        return None
    name = top.name or _default_name(path)
    if not NAME_RE.match(name):
        problems.append(Problem(str(path), None, "name",
                                f"no `name:` given and the file name {path.stem!r} is not a valid "
                                "work dir name; add `name: my-recipe`"))
        return None
    return Recipe(path=path.resolve(), name=name, device=top.device, stages=sections,
                  order=order, resources=top.resources,
                  interpreters=top.interpreters)


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
                                            f"got {type_name(section)}"))
        return None
    options = dict(section)
    kinds = registry.kind_names()
    uses = options.pop("uses", None)
    resources_raw = options.pop("resources", None)
    if uses is not None and (not isinstance(uses, str) or uses not in kinds):
        problems.append(smap.problem((*where, "uses"),
                                     f"unknown stage kind {uses!r}{suggest(uses, kinds)}; "
                                     f"kinds: {', '.join(kinds)}"))
        return None
    kind_name = uses or name
    if kind_name not in kinds:
        problems.append(smap.problem(where,
                                     f"{name!r} is not a stage kind{suggest(name, kinds)}; "
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
            problems.extend(pydantic_problems(exc, smap, (*where, "resources"), Resources,
                                               resources_raw))
            ok = False
    try:
        opts = kind.Options.model_validate(options)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, smap, where, kind.Options, options))
        return None
    if not ok:
        return None
    return StageSection(name=name, kind=kind_name, options=opts, resources=resources)


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
