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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from internpipe import course, datafiles, gates, references, yamlsrc
from internpipe import stages as registry
from internpipe.errors import Problem, RecipeError, UserError
from internpipe.fields import Line
from internpipe.gates import Gate, GateSpec
from internpipe.problems import pydantic_problems, suggest, type_name

NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")     # fullmatch: "$" takes a trailing "\n"
MAX_RECIPE_BYTES = 1 << 20     # a recipe is a page of YAML; this is a thousand pages
MAX_STAGES = 200               # the chain has six kinds; resolving inputs is quadratic
# Slurm's own forms: a memory size with an optional unit, a time limit.
MEM_RE = r"^[0-9]+[KMGTkmgt]?$"
TIME_RE = r"^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$"
SLURM_NAME_RE = r"^[A-Za-z0-9_.,+-]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class SlurmResources(Strict):
    partition: Line | None = Field(None, pattern=SLURM_NAME_RE)
    account: Line | None = Field(None, pattern=SLURM_NAME_RE)
    qos: Line | None = Field(None, pattern=SLURM_NAME_RE)
    extra_args: list[Line] = Field(default_factory=list)


class Resources(Strict):
    launcher: Literal["local", "slurm"] = "local"
    nodes: int = Field(1, ge=1, le=100_000)
    gpus_per_node: int | None = Field(None, ge=0, le=1024)
    cpus_per_task: int | None = Field(None, ge=1, le=100_000)
    mem: Line | None = Field(None, pattern=MEM_RE, description="Slurm's --mem: 64G, 512M")
    time: Line | None = Field(None, pattern=TIME_RE, description="Slurm's --time: MINUTES, "
                              "H:MM:SS, D-HH:MM:SS, …")
    slurm: SlurmResources | None = None


class TopLevel(Strict):
    version: Literal[1]
    name: Line | None = Field(None, pattern=f"^{NAME_RE.pattern}$")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    stages: dict[Line, Any] = Field(min_length=1)  # each section is checked by its kind
    resources: Resources = Field(default_factory=Resources)
    interpreters: dict[Line, Line] = Field(
        default_factory=dict,
        description="tool environment name (xtuner, opencompass, …) → an existing Python "
                    "interpreter to use instead of the managed env",
    )
    gates: list[Line | GateSpec] | None = Field(None, description="quality gates: checks on "
                                                "what stages measured; exit 1 when one fails")
    # The name before `interpreters:` (it read like the agent stage's `tools:`), still read.
    tools: dict[Line, Line] | None = Field(None, description="old name of `interpreters`")

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        if type(value) is not int:      # 1.0 and true equal 1 in Python, not in a recipe
            raise ValueError(f"version must be the number 1, got {value!r}")
        return value

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
    # Where each value was written: checks and run-time refusals name FILE:LINE with it.
    smap: yamlsrc.SourceMap = field(default_factory=lambda: yamlsrc.SourceMap(""))
    # The --set values it was loaded with: a run remembers them (state.json), so `status`
    # and `report` read the stages as that run left them (pipeline.load_remembered).
    overrides: list[str] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)      # quality gates (gates.py)

    def problem(self, path: yamlsrc.Path, message: str) -> Problem:
        return self.smap.problem(path, message)

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def workdir(self) -> Path:
        return self.dir / ".internpipe" / self.name


# --------------------------------------------------------------------------- loading


def load(path: Path | str, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    return parse(read(path), path, overrides or [])


def read(path: Path) -> bytes:
    """The recipe file's bytes. Only a regular file of at most MAX_RECIPE_BYTES is read: a
    FIFO would block and /dev/zero never end."""
    try:
        with datafiles.open_regular(path) as f:
            data = f.read(MAX_RECIPE_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: no such recipe file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, expected a recipe file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_RECIPE_BYTES:
        raise UserError(f"{path}: larger than {MAX_RECIPE_BYTES >> 20} MiB, which no recipe "
                        "is; is it the right file?")
    return data


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
    apply_overrides(raw, overrides, smap, problems)
    schema: list[Problem] = []
    recipe, draft = _validate(raw, smap, path, schema)
    # A value YAML could not build is None for the schema: one problem for it is enough.
    problems += [p for p in schema if p.field not in smap.unbuilt]
    if problems or recipe is None:
        raise InvalidRecipe(sorted(problems, key=lambda p: (p.line or 0, p.field)),
                            recipe or draft)
    recipe.overrides = list(overrides)
    return recipe


def apply_overrides(raw: dict[str, Any], overrides: list[str], smap: yamlsrc.SourceMap,
                    problems: list[Problem]) -> None:
    """`--set stages.finetune.epochs=3`: the value is read as YAML (3 → int, [a, b] → list),
    with the file's types and limits; what is wrong with it is reported against the --set."""
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = [p for p in key.strip().split(".")]
        if not sep or not all(parts):
            raise UserError(f"--set {item!r}: expected DOTTED.KEY=VALUE, e.g. "
                            "stages.finetune.epochs=3")
        origin = f"--set {key.strip()}"
        parsed, found = yamlsrc.load_value(value, origin, tuple(parts))
        if found:
            problems.extend(found)
            continue
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
        smap.overrides[tuple(parts)] = origin


# --------------------------------------------------------------------------- validation


class InvalidRecipe(RecipeError):
    """A recipe's problems, with what of it did validate (`draft`: its valid stages, their
    inputs resolved where the names do), so `validate` can run their checks too and report
    every problem of the file at once."""

    def __init__(self, problems: list[Problem], draft: Recipe | None) -> None:
        super().__init__(problems)
        self.draft = draft


def _validate(raw: dict[str, Any], smap: yamlsrc.SourceMap, path: Path,
              problems: list[Problem]) -> tuple[Recipe | None, Recipe | None]:
    """(the recipe, None), or (None, a draft of its valid stages) when it has problems."""
    try:
        top = TopLevel.model_validate({k: v for k, v in raw.items() if k != "gates"})
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, smap, (), TopLevel, raw))
        # Stage sections are still checked so every problem of the file is reported at once.
        top = None
    raw_stages = raw.get("stages")
    if isinstance(raw_stages, dict) and len(raw_stages) > MAX_STAGES:
        problems.append(smap.problem(("stages",), f"{len(raw_stages)} stages: more than "
                                                  f"{MAX_STAGES}, which no recipe needs"))
        return None, None
    sections: dict[str, StageSection] = {}
    if isinstance(raw_stages, dict):
        for name, section in raw_stages.items():
            parsed = _validate_stage(name, section, smap, problems)
            if parsed is not None:
                sections[name] = parsed
    stage_names = list(raw_stages) if isinstance(raw_stages, dict) else []
    if top is None or len(sections) != len(stage_names):
        references.check_names(sections, stage_names, smap, problems)
        references.resolve(sections, smap, [])     # the draft's inputs, where they resolve
        return None, _recipe(path, top, sections, list(sections), smap)
    order = references.resolve(sections, smap, problems)
    if order is None:
        return None, _recipe(path, top, sections, list(sections), smap)
    recipe = _recipe(path, top, sections, order, smap)
    if not NAME_RE.fullmatch(recipe.name):
        problems.append(Problem(str(path), None, "name",
                                f"no `name:` given and the file name {path.stem!r} is not a valid "
                                "work dir name; add `name: my-recipe`"))
        return None, recipe
    recipe.gates = gates.parse(raw.get("gates"), recipe, problems)
    return (None, recipe) if problems else (recipe, None)


def _recipe(path: Path, top: TopLevel | None, sections: dict[str, StageSection],
            order: list[str], smap: yamlsrc.SourceMap) -> Recipe:
    """The recipe; a draft's top level, when it did not validate, is the defaults'."""
    return Recipe(path=path.resolve(), name=(top and top.name) or _default_name(path),
                  device=top.device if top else "auto", stages=sections, order=order,
                  resources=top.resources if top else Resources(),
                  interpreters=top.interpreters if top else {}, smap=smap)


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or "recipe"


def _validate_stage(name: str, section: Any, smap: yamlsrc.SourceMap,
                    problems: list[Problem]) -> StageSection | None:
    where = ("stages", name)
    if not NAME_RE.fullmatch(name):
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
    course.apply(kind_name, options, where, smap, problems)
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
        for alias, name in course.OPTION_ALIASES.get(kind_name, {}).items():
            sub["properties"][alias] = {**sub["properties"][name],
                                        "description": f"the course's name for `{name}`"}
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
