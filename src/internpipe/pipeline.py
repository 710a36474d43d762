"""The workflow every command runs, as a short list of phases (the way nox runs a session):
load the recipe → plan under the work dir's lock → run → summarise. The CLI modules parse
arguments, call these and print; nothing here prints.

Also the questions commands ask about a recipe's stages ("the newest stage of a kind", "the
artifact of a stage") and the one way to bring a service stage up for a command that needs
it (`serving`, used by `deploy`, `agent chat` and `bench`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from internpipe.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STAGE_FAILED,
    EXIT_USAGE,
    GateFailed,
    Problem,
    RecipeError,
    StageFailed,
    UserError,
)

if TYPE_CHECKING:
    from internpipe.artifacts import EndpointArtifact
    from internpipe.plan import Plan, Selection
    from internpipe.progress import Reporter
    from internpipe.recipe import Recipe


# --------------------------------------------------------------------------- phases


def load(path: Path, overrides: list[str] | None) -> Recipe:
    from internpipe import recipe

    return recipe.load(path, overrides or [])


def load_remembered(path: Path, overrides: list[str] | None) -> Recipe:
    """The recipe as `status` and `report` read it: with the given --set values, or, given
    none, with those of the last run (remembered in state.json), so a run made with --set
    does not read as stale afterwards. Remembered values the recipe no longer accepts (a
    stage renamed since) are dropped."""
    from internpipe import recipe
    from internpipe.state import WorkDir

    r = load(path, overrides)
    if overrides:
        return r
    remembered = WorkDir(r.workdir).overrides()
    if not remembered:
        return r
    try:
        return recipe.load(path, remembered)
    except RecipeError:
        return r


def from_arguments(command: str, name: str, stages: dict[str, Any],
                   overrides: list[str] | None) -> Recipe:
    """The stage subcommands (`internpipe download …`): a recipe built as data from their
    arguments, run like any other in .internpipe/NAME/ of the current folder. A bad value is
    reported against the argument, not against a recipe file the user never wrote."""
    import yaml

    from internpipe import recipe

    doc = {"version": 1, "name": name, "stages": stages}
    try:
        r = recipe.parse(yaml.safe_dump(doc, sort_keys=False).encode(),
                         Path.cwd() / f"internpipe-{command}.yaml", overrides or [])
    except RecipeError as exc:
        raise UserError("bad arguments", [
            p if p.file.startswith("--set ") else
            Problem(f"internpipe {command}", None, p.field.rpartition(".")[2].upper(),
                    p.message) for p in exc.problems]) from None
    # Later problems (the checks, a refusal) name the command, not a file never written.
    r.smap.file = f"internpipe {command}"
    r.smap.lines.clear()
    return r


def selection(start: str | None = None, until: str | None = None, only: str | None = None,
              force: bool = False, serve: tuple[str, ...] = ()) -> Selection:
    from internpipe.plan import Selection

    names = tuple(n.strip() for n in (only or "").split(",") if n.strip())
    if names and (start or until):
        raise UserError("--only cannot be combined with --from/--until")
    return Selection(start=start, until=until, only=names, force=force, serve=serve)


def plan(recipe: Recipe, device: str | None, sel: Selection | None = None,
         with_steps: bool = True) -> Plan:
    """The plan (see plan.py for what planning reads); the hashes it computed are kept in
    the internpipe home (fingerprint.HashCache), so a fresh recipe does not hash again."""
    from internpipe.fingerprint import HashCache
    from internpipe.plan import make_plan

    cache = HashCache()
    result = make_plan(recipe, cache.path_hash, device, sel, with_steps=with_steps)
    cache.save()
    return result


def run(recipe: Recipe, device: str | None, sel: Selection | None, reporter: Reporter,
        wait: bool = False, keep_serving: bool = False) -> int:
    """Take the work dir's lock, plan under it (a run we waited for changes the state), run,
    and summarise in a `run_finished` event. The exit code: 0 ok, 1 a stage failed, 2 a stage
    refused at run time (UserError), 130 interrupted (the exception is re-raised for the
    CLI's guard)."""
    from internpipe import envs, gates, preflight, recovery, runner, state

    unfit = preflight.machine_problems(recipe, device)
    if unfit:
        raise RecipeError(unfit)
    status, code = "ok", EXIT_OK
    with state.locked(recipe.workdir / "run.lock", wait=wait,
                      on_wait=lambda who: reporter.emit({"event": "waiting",
                                                         "message": f"waiting: {who}"})):
        started = time.monotonic()
        # Before planning: a run that died (we hold the lock, so it is gone) may have left
        # processes, a half-built output, or a published output not yet recorded.
        recovery.recover(state.WorkDir(recipe.workdir))
        state.WorkDir(recipe.workdir).remember_overrides(recipe.overrides)
        the_plan = plan(recipe, device, sel)
        reporter.emit({"event": "plan", **the_plan.summary()})
        watch = gates.Watch(recipe, reporter.emit)
        try:
            runner.run(the_plan, reporter, keep_serving, watch.after_stage)
            watch.finish()
        except (StageFailed, envs.EnvBuildError, GateFailed):
            status, code = "failed", EXIT_STAGE_FAILED
            raise
        except (UserError, OSError):  # refused at run time (busy port…), or the machine
            status, code = "failed", EXIT_USAGE   # refused a write: exit 2, as the guard says
            raise
        except KeyboardInterrupt:
            status, code = "interrupted", EXIT_INTERRUPTED
            raise
        except Exception:      # a bug: the traceback follows, the event must not say ok
            status, code = "failed", EXIT_STAGE_FAILED
            raise
        finally:
            reporter.emit({"event": "run_finished", "status": status, "exit_code": code,
                           "seconds": round(time.monotonic() - started, 3)})
    return code


# --------------------------------------------------------------------------- questions


def stage_of_kind(recipe: Recipe, kind: str) -> str | None:
    """The last stage of that kind in execution order (the newest), if any."""
    return next((n for n in reversed(recipe.order) if recipe.stages[n].kind == kind), None)


def need_stage_of_kind(recipe: Recipe, kind: str) -> str:
    name = stage_of_kind(recipe, kind)
    if name is None:
        raise UserError(f"{recipe.path}: the recipe has no {kind} stage")
    return name


def artifact_of(recipe: Recipe, stage: str) -> dict[str, Any]:
    """A finished stage's artifact as recorded in the work dir ({} if it has not run)."""
    from internpipe import artifacts
    from internpipe.state import WorkDir

    return artifacts.of_entry(WorkDir(recipe.workdir).entry(stage))


def endpoint_of(recipe: Recipe, stage: str) -> EndpointArtifact:
    from internpipe import artifacts

    return artifacts.as_endpoint(artifact_of(recipe, stage))


@contextlib.contextmanager
def serving(recipe: Recipe, stage: str, device: str | None,
            reporter: Reporter) -> Iterator[EndpointArtifact]:
    """The service stage up for the duration of a command: the recipe runs up to it (what
    is cached stays cached) and the endpoint is yielded. A server this started is stopped
    afterwards unless the recipe keeps it; one that was already up is left as it was."""
    from internpipe import services
    from internpipe import stages as registry

    was_up = services.is_serving(endpoint_of(recipe, stage))
    code = run(recipe, device, selection(until=stage, serve=(stage,)), reporter,
               keep_serving=True)
    if code != 0:
        raise StageFailed(stage, f"the recipe did not reach a serving {stage!r}")
    endpoint = endpoint_of(recipe, stage)
    kept = registry.get_kind(recipe.stages[stage].kind).keeps_serving(
        recipe.stages[stage].options)
    started = int(endpoint.get("pid") or 0) if not (was_up or kept) else 0
    try:
        yield endpoint
    finally:
        if started:
            services.stop(started)
