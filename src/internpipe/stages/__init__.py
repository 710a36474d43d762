"""The stage protocol and the registry of stage kinds.

A stage kind is a module (see `StageKind`) named in `KINDS`; modules are imported only when a
recipe uses them, so `internpipe --help` stays fast. Plugins (and the test suite) add kinds
with `register()` from a module listed in the INTERNPIPE_PLUGINS environment variable.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from pydantic import BaseModel

from internpipe.errors import UserError

# Artifact kinds a stage can produce; references are checked against them.
MODEL = "model"
ENDPOINT = "endpoint"
SCORES = "scores"
TRANSCRIPTS = "transcripts"


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

    def input(self, field_name: str) -> InputRef:
        refs = self.inputs.get(field_name) or []
        if not refs:
            raise UserError(f"stage {self.name!r}: no input for {field_name!r}")
        return refs[0]


class StageKind(Protocol):
    KIND: str
    PRODUCES: str
    Options: type[BaseModel]
    INPUTS: tuple[InputSpec, ...]

    def tool(self, options: Any, device: str) -> str | None: ...

    def local_files(self, options: Any, recipe_dir: Path) -> list[Path]: ...

    def plan(self, ctx: StageContext) -> list[Step]: ...

    def collect(self, ctx: StageContext) -> dict[str, Any]: ...


KINDS: dict[str, str | ModuleType] = {
    "download": "internpipe.stages.download",
    "finetune": "internpipe.stages.finetune",
    "evaluate": "internpipe.stages.evaluate",
    "quantize": "internpipe.stages.quantize",
    "deploy": "internpipe.stages.deploy",
    "agent": "internpipe.stages.agent",
}

_plugins_loaded = False


def register(kind: str, module: str | ModuleType) -> None:
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


def get_kind(kind: str) -> StageKind:
    _load_plugins()
    entry = KINDS[kind]
    module = importlib.import_module(entry) if isinstance(entry, str) else entry
    return cast(StageKind, module)
