"""The stage contract, the hand-off types and the registry of stage kinds.

A stage kind is a folder `stages/<kind>/` with `options.py` (what a recipe may say: the
declaration, cheap to import) and `stage.py` (the behaviour; see `StageKind`). Kinds are
imported only when a recipe uses them, and `validate` imports only their options modules,
so `internpipe --help` and `validate` stay fast. Plugins (and the test suite) add kinds with
`register()` from a module listed in the INTERNPIPE_PLUGINS environment variable.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from pydantic import BaseModel

from internpipe.artifacts import (
    ENDPOINT,
    MODEL,
    SCORES,
    TRANSCRIPTS,
    Artifact,
    EndpointArtifact,
    ModelArtifact,
    as_endpoint,
    as_model,
)
from internpipe.errors import Problem, UserError

if TYPE_CHECKING:
    from internpipe.services import ServiceSpec

__all__ = [
    "ENDPOINT",
    "MODEL",
    "SCORES",
    "TRANSCRIPTS",
    "InputRef",
    "InputSpec",
    "Section",
    "StageContext",
    "StageKind",
    "Step",
    "declaration",
    "get_kind",
    "kind_names",
    "register",
]

OptionsT = TypeVar("OptionsT", bound=BaseModel)
# Where a value of the recipe is: a path (("stages", NAME, OPTION, …)) and a message → a
# problem at that value's FILE:LINE (or at the `--set` that gave it).
Locate = Callable[[tuple[str | int, ...], str], Problem]


def _options_as(name: str, options: BaseModel, model: type[OptionsT]) -> OptionsT:
    if not isinstance(options, model):
        raise TypeError(f"stage {name!r}: options are {type(options).__name__}, not "
                        f"{model.__name__}")
    return options


@dataclass(frozen=True)
class InputSpec:
    """An option that names other stages, and what to use when it is left out.

    default: "nearest" = the nearest earlier stage producing an accepted kind (an error if
    none); "first_and_nearest" = the first and the nearest such stage (evaluate's base vs
    tuned); "none" = nothing.
    """

    field: str
    accepts: frozenset[str]
    many: bool = False
    default: str = "nearest"
    unless: str | None = None   # an option that, when set, stands in for this input


@dataclass(frozen=True)
class InputRef:
    """An upstream stage as seen by a consumer: where its output is, and (at run time) its
    artifact description."""

    stage: str
    produces: str
    path: Path
    artifact: dict[str, Any] | None = None

    def model(self) -> ModelArtifact:
        """The artifact of a model-producing stage ({} before it has run)."""
        return as_model(self.artifact if self.produces == MODEL else None)

    def endpoint(self) -> EndpointArtifact:
        """The artifact of a deploy stage ({} before it has run)."""
        return as_endpoint(self.artifact if self.produces == ENDPOINT else None)


@dataclass
class Step:
    """One subprocess of a stage. `tool` names the environment whose bin/ comes first on
    PATH (None: run with the host's PATH). `files` are written (relative to the stage's
    work dir) before the step runs."""

    name: str
    argv: list[str]
    tool: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    offline: bool = False
    # Under `launcher: slurm`: the job's command when it differs from argv (XTuner's srun
    # path for several nodes), and how many tasks per node the job asks for.
    slurm_argv: list[str] | None = None
    slurm_tasks_per_node: int = 1
    # A step that checks an input the recipe names (a GGUF fetched at run time): its exit
    # code 2 refuses that input, located at this option of the stage (exit 2, like a
    # refusal at plan time), not a tool failure.
    refuses_input: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageContext:
    name: str
    kind: str
    options: BaseModel
    recipe_name: str
    recipe_dir: Path
    work: Path            # persists across runs of this stage (checkpoints, generated configs)
    out: Path             # the folder being built; renamed into place after `collect`
    inputs: dict[str, list[InputRef]]
    device: str           # "cpu" | "cuda"
    python: Path | None   # the interpreter of the stage's tool environment
    resources: Any = None  # the stage's resources (recipe-level, overridden per stage)
    env: Any = None        # its tool environment (envs.Env), managed or the user's own
    fingerprint: str = ""  # the stage's fingerprint in this run
    # The stage's last run was interrupted and this one is not --force: the kind may
    # continue that run's work (finetune resumes from its checkpoint); otherwise it starts
    # from scratch. Known only at plan time: the runner's RUNNING marker replaces the old.
    resumable: bool = False
    locate: Locate | None = None   # where the stage's options are in the recipe

    def options_as(self, model: type[OptionsT]) -> OptionsT:
        """The stage's options as its own Options model (typed for mypy, checked here)."""
        return _options_as(self.name, self.options, model)

    def refuse(self, message: str, *option: str | int) -> UserError:
        """The error for a stage that cannot run as its recipe says, located at `option` (at
        the stage when none) in the recipe: `raise ctx.refuse("port 80 is in use", "port")`."""
        located = [] if self.locate is None else [
            self.locate(("stages", self.name, *option), message)]
        return UserError(f"stage {self.name!r}: {message}", located)

    def input(self, field_name: str) -> InputRef:
        refs = self.inputs.get(field_name) or []
        if not refs:
            raise UserError(f"stage {self.name!r}: no input for {field_name!r}")
        return refs[0]


@dataclass(frozen=True)
class Section:
    """What `check` sees of one stage of a loaded recipe: its options as validated, its
    resources (the stage's, else the recipe's), the stages it uses (as Sections too, so a
    check can follow a model back to a local folder), and where each option is written."""

    name: str
    kind: str
    produces: str
    options: BaseModel
    resources: Any
    inputs: dict[str, list[Section]]
    interpreters: dict[str, str]    # the recipe's own interpreters per tool env
    locate: Locate

    def options_as(self, model: type[OptionsT]) -> OptionsT:
        return _options_as(self.name, self.options, model)

    def problem(self, message: str, *option: str | int) -> Problem:
        """A problem located at the stage's `option` (at the stage itself when none)."""
        return self.locate(("stages", self.name, *option), message)


class StageKind(Protocol):
    """The whole contract of a stage kind. Every member is assigned in the kind's module;
    optional ones take their default from `stages.base` (tests/unit/test_contract.py walks
    every registered kind and checks each member).

    Declared in the kind's options module (imported by `validate` without the runtime):
      KIND, PRODUCES, INPUTS, Options, check
    Behaviour, in its stage module:
      VERSION            bumped when the code changes what the stage produces (fingerprint)
      NOT_FINGERPRINTED  options that change nothing in the output (e.g. a server's keep)
      SERVICE            the stage leaves a server running (its artifact is an endpoint)
      SLURM_NATIVE       the tool submits its own Slurm jobs: steps are not wrapped in sbatch
      tool               the tool environment the steps run in (None: the host's PATH)
      local_files        files the fingerprint hashes (data, a local model)
      check              (declared) what would stop the stage, found before anything runs:
                         data files, names the upstream tools must know, what the device
                         allows. Problems located in the recipe or in the data file. Reads
                         files only, no tool env: `validate` runs it for every stage,
                         `plan`/`run` (preflight.py) for the stages that will run
      plan               the steps, with exact argv; may refuse with UserError
      notes              extra lines for the plan beside the run/cached reasons
      parse_line         a tool log line → a progress update, or None
      serve              the server to start after the steps (SERVICE kinds), else None
      keeps_serving      whether the options ask to leave the server up after the run
      collect            check what the tool produced → the artifact for the next stage
    """

    KIND: str
    PRODUCES: str
    INPUTS: tuple[InputSpec, ...]
    Options: type[BaseModel]
    VERSION: int
    NOT_FINGERPRINTED: tuple[str, ...]
    SERVICE: bool
    SLURM_NATIVE: bool
    serve: Callable[[StageContext], ServiceSpec] | None

    def tool(self, options: Any, device: str) -> str | None: ...

    def local_files(self, options: Any, recipe_dir: Path) -> list[Path]: ...

    def check(self, section: Section, recipe_dir: Path, device: str) -> list[Problem]: ...

    def plan(self, ctx: StageContext) -> list[Step]: ...

    def notes(self, ctx: StageContext) -> list[str]: ...

    def parse_line(self, line: str) -> dict[str, Any] | None: ...

    def keeps_serving(self, options: Any) -> bool: ...

    def collect(self, ctx: StageContext) -> Artifact: ...


class Declaration(Protocol):
    """The part of a kind that recipe validation needs (its options module)."""

    KIND: str
    PRODUCES: str
    INPUTS: tuple[InputSpec, ...]
    Options: type[BaseModel]

    def check(self, section: Section, recipe_dir: Path, device: str) -> list[Problem]: ...


# Members every kind module must assign (the contract test reads this list).
MEMBERS = ("KIND", "PRODUCES", "INPUTS", "Options", "VERSION", "NOT_FINGERPRINTED",
           "SERVICE", "SLURM_NATIVE", "serve", "tool", "local_files", "check", "plan", "notes",
           "parse_line", "keeps_serving", "collect")
DECLARED = ("KIND", "PRODUCES", "INPUTS", "Options", "check")


KINDS: dict[str, str | ModuleType | object] = {
    "download": "internpipe.stages.download",
    "finetune": "internpipe.stages.finetune",
    "evaluate": "internpipe.stages.evaluate",
    "quantize": "internpipe.stages.quantize",
    "deploy": "internpipe.stages.deploy",
    "agent": "internpipe.stages.agent",
}

_plugins_loaded = False


def register(kind: str, module: str | ModuleType | object) -> None:
    """A kind from a package path (with options.py and stage.py) or from one object or
    module that carries every member."""
    KINDS[kind] = module


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in filter(None, os.environ.get("INTERNPIPE_PLUGINS", "").split(",")):
        try:
            importlib.import_module(name.strip())
        except ImportError as exc:
            raise UserError(f"INTERNPIPE_PLUGINS: cannot import {name!r}: {exc}") from exc


def kind_names() -> list[str]:
    _load_plugins()
    return list(KINDS)


def declaration(kind: str) -> Declaration:
    """What a recipe may say for the kind: its options module, without the runtime."""
    _load_plugins()
    entry = KINDS[kind]
    if isinstance(entry, str):
        return cast(Declaration, importlib.import_module(f"{entry}.options"))
    return cast(Declaration, entry)


def get_kind(kind: str) -> StageKind:
    """The kind's whole behaviour (its stage module)."""
    _load_plugins()
    entry = KINDS[kind]
    if isinstance(entry, str):
        return cast(StageKind, importlib.import_module(f"{entry}.stage"))
    return cast(StageKind, entry)
