"""The checks a loaded recipe passes before anything runs, beyond its schema and references:
each stage kind's own `check` (data files, names the upstream tools must know, what the
device allows), and what this machine offers (`device: cuda` needs an NVIDIA driver).

`validate` runs them for every stage, `plan` and `run` for the stages that will run, before
any stage is planned, so every problem is reported at once with its FILE:LINE. Reads files
only: no tool environment is built, no network is used."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from internpipe import devices
from internpipe import stages as registry
from internpipe.errors import Problem, UserError
from internpipe.stages import Section

if TYPE_CHECKING:
    from internpipe.recipe import Recipe


def machine_problems(recipe: Recipe, device: str | None = None,
                     names: Iterable[str] | None = None) -> list[Problem]:
    """Why this machine cannot run the (named) stages: CUDA asked for where no NVIDIA
    driver is loaded, for stages that run here (under Slurm they run on the cluster's
    nodes, which this one cannot see). `run` refuses on these; `validate` and `plan` only
    warn, since a recipe for a GPU machine is rightly checked and planned anywhere."""
    if devices.resolve_device(device or recipe.device) != "cuda" or devices.nvidia_driver():
        return []
    local = [n for n in (recipe.order if names is None else names)
             if (recipe.stages[n].resources or recipe.resources).launcher == "local"]
    if not local:
        return []
    why = ("CUDA, but this machine has no NVIDIA driver (no /proc/driver/nvidia/version, no "
           "nvidia-smi); use `device: auto` or cpu here, or run on a GPU machine (or "
           "`resources: {launcher: slurm}`)")
    if device:
        return [Problem("--device", None, "", f"{device}: {why}")]
    return [recipe.problem(("device",), f"device {recipe.device} asks for {why}")]


def sections(recipe: Recipe) -> dict[str, Section]:
    """Each stage as `check` sees it, its inputs as Sections too (execution order puts a
    stage after the stages it uses; a draft of an invalid recipe may lack some)."""
    views: dict[str, Section] = {}
    for name in recipe.order:
        s = recipe.stages[name]
        views[name] = Section(
            name=name, kind=s.kind, produces=registry.declaration(s.kind).PRODUCES,
            options=s.options, resources=s.resources or recipe.resources,
            inputs={f: [views[r] for r in refs if r in views] for f, refs in s.inputs.items()},
            interpreters=recipe.interpreters, locate=recipe.problem)
    return views


def check(recipe: Recipe, device: str | None = None,
          names: Iterable[str] | None = None) -> list[Problem]:
    """Every problem found in the named stages (all by default), in recipe order."""
    wanted = set(recipe.order if names is None else names)
    flavour = devices.resolve_device(device or recipe.device)
    problems: list[Problem] = []
    views = sections(recipe)
    for name in recipe.stages:
        if name in wanted:
            view = views[name]
            problems += registry.declaration(view.kind).check(view, recipe.dir, flavour)
    return problems


def refused(recipe: Recipe, stage: str, message: str) -> UserError:
    """A stage that cannot run, located at its section of the recipe."""
    message = message.removeprefix(f"stage {stage!r}: ")
    return UserError(f"stage {stage!r}: {message}",
                     [recipe.problem(("stages", stage), message)])
