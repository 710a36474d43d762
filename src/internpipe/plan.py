"""recipe + state → Plan: execution order, resolved inputs, fingerprints, the run/cached
decision and status of each stage with the reasons, and a preview of the exact commands.

Writes nothing. What it reads: the work dir (state.json, each stage's RUNNING marker and
FAILED file, whether its out/ exists, the size and mtime of each file in it, and
out/manifest.json where a marker says a dead run was publishing: recovery.py), local input
files through the hash cache (hashed only when their size or mtime changed), for the stages
that will run each kind's `check` (preflight.py: data files, a local model's config.json, an
installed OpenCompass's config files) and then its `plan()`/`notes()`, the health URL of a
finished service stage's server (an HTTP GET to 127.0.0.1 or where it serves), whether
`sbatch` is on PATH (launcher: slurm) and /proc/mounts (shared-filesystem note), and for
`device: auto` whether an NVIDIA driver is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from internpipe import (
    artifacts,
    devices,
    envs,
    preflight,
    recovery,
    services,
    slurm,
    staleness,
    state,
)
from internpipe import stages as registry
from internpipe.errors import RecipeError, UserError
from internpipe.fingerprint import digest
from internpipe.recipe import Recipe
from internpipe.stages import InputRef, StageContext, Step
from internpipe.state import Outcome, StageStatus, WorkDir

RUN, CACHED, SKIP = "run", "cached", "skip"


@dataclass
class StagePlan:
    name: str
    kind: str
    produces: str
    tool: str | None
    env: envs.Env | None
    fingerprint: str
    components: dict[str, Any]
    action: str
    status: StageStatus
    reasons: list[str]
    inputs: dict[str, list[str]]
    # The commands the stage would run, as planned now; the runner plans again with the
    # real upstream artifacts, so this is a preview (shown by `plan`).
    steps_preview: list[Step] = field(default_factory=list)
    entry: dict[str, Any] | None = None
    jobs: dict[str, slurm.BatchJob] = field(default_factory=dict)   # step → Slurm job
    resumable: bool = False     # StageContext.resumable: interrupted last time, not --force

    def summary(self) -> dict[str, Any]:
        return {"stage": self.name, "kind": self.kind, "action": self.action,
                "status": self.status.value, "reasons": self.reasons,
                "fingerprint": self.fingerprint,
                "tool": self.tool, "env": self.env.name if self.env else None,
                "inputs": self.inputs,
                "commands": [{"step": s.name, "argv": s.argv, "tool": s.tool,
                              **({"sbatch": self.jobs[s.name].command,
                                  "script": self.jobs[s.name].script}
                                 if s.name in self.jobs else {})}
                             for s in self.steps_preview]}


@dataclass
class Plan:
    recipe: Recipe
    workdir: WorkDir
    device: str
    stages: list[StagePlan]

    def to_run(self) -> list[StagePlan]:
        return [s for s in self.stages if s.action == RUN]

    def envs_needed(self) -> list[envs.Env]:
        seen: dict[str, envs.Env] = {}
        for s in self.to_run():
            if s.env is not None:
                seen.setdefault(s.env.name, s.env)
        return list(seen.values())

    def summary(self) -> dict[str, Any]:
        return {"recipe": str(self.recipe.path), "name": self.recipe.name,
                "workdir": str(self.workdir.root), "device": self.device,
                "stages": [s.summary() for s in self.stages],
                "envs": [{"tool": e.tool, "env": e.name,
                          "state": "ready" if envs.quick_check(e) is None else "to build"}
                         for e in self.envs_needed()]}


@dataclass(frozen=True)
class Selection:
    start: str | None = None     # --from
    until: str | None = None     # --until
    only: tuple[str, ...] = ()   # --only
    force: bool = False
    serve: tuple[str, ...] = ()  # service stages that must be up at the end (deploy command)

    def check(self, order: list[str]) -> None:
        for flag, names in (("--from", [self.start]), ("--until", [self.until]),
                            ("--only", list(self.only))):
            for n in names:
                if n is not None and n not in order:
                    raise UserError(f"{flag} {n}: no such stage (stages: {', '.join(order)})")
        if self.start and self.until and order.index(self.start) > order.index(self.until):
            raise UserError(f"--from {self.start} comes after --until {self.until}")

    def selected(self, order: list[str]) -> set[str]:
        self.check(order)
        if self.only:
            return set(self.only)
        lo = order.index(self.start) if self.start else 0
        hi = order.index(self.until) + 1 if self.until else len(order)
        return set(order[lo:hi])


def make_plan(recipe: Recipe, hash_path: Callable[[Path], str], device: str | None = None,
              selection: Selection | None = None, with_steps: bool = True) -> Plan:
    """Decide every stage. With `with_steps`, the stages that will run also get their exact
    commands (a stage kind may refuse here, e.g. when a required file is missing)."""
    selection = selection or Selection()
    wd = WorkDir(recipe.workdir)
    flavour = devices.resolve_device(device or recipe.device)
    selected = selection.selected(recipe.order)
    entries = recovery.entries(wd, recipe.order)   # with entries a dead run left unrecorded
    planned: dict[str, StagePlan] = {}
    for name in recipe.order:
        section = recipe.stages[name]
        kind = registry.get_kind(section.kind)
        tool = kind.tool(section.options, flavour)
        env = envs.env_for(tool, flavour, recipe.interpreters) if tool else None
        entry = entries.get(name)

        upstream: dict[str, list[str]] = {}
        for field_name, refs in section.inputs.items():
            upstream[field_name] = [_input_fingerprint(planned[r], name, name in selected)
                                    for r in refs]
        files = {}
        for path in kind.local_files(section.options, recipe.dir):
            try:
                files[_rel(path, recipe.dir)] = hash_path(path)
            except FileNotFoundError:
                if name not in selected:
                    files[_rel(path, recipe.dir)] = "missing"
                    continue
                raise preflight.refused(recipe, name, f"{path} does not exist") from None
            except OSError as exc:
                raise preflight.refused(recipe, name,
                                        f"cannot read {path}: {exc.strerror}") from None
        components = {"kind": section.kind,
                      "code": kind.VERSION,
                      "options": section.options.model_dump(
                          mode="json", exclude=set(kind.NOT_FINGERPRINTED)),
                      "env": env.id if env else None, "device": flavour,
                      "inputs": upstream, "files": files}
        fingerprint = digest(components)
        outcome = wd.last_outcome(name, finished=entry is not None)
        action, status, reasons = _decide(name, fingerprint, components, entry, outcome, wd,
                                          name in selected, selection.force)
        if action == CACHED and (remade := staleness.inputs_remade(
                (entry or {}).get("consumed"), {r: _made(planned[r]) for refs in
                                                section.inputs.values() for r in refs})):
            action, status, reasons = RUN, StageStatus.STALE, remade
        if action == CACHED and kind.SERVICE:
            action, status, reasons = _service_state(entry or {})
        planned[name] = StagePlan(
            name=name, kind=section.kind, produces=kind.PRODUCES, tool=tool, env=env,
            fingerprint=fingerprint, components=components, action=action, status=status,
            reasons=reasons, inputs=section.inputs, entry=entry,
            resumable=outcome == Outcome.INTERRUPTED and not selection.force)
    _spare_idle_services(recipe, planned, selection.serve)
    if with_steps:
        _plan_steps(recipe, wd, planned, device, flavour)
    return Plan(recipe=recipe, workdir=wd, device=flavour, stages=list(planned.values()))


def _plan_steps(recipe: Recipe, wd: WorkDir, planned: dict[str, StagePlan],
                device: str | None, flavour: str) -> None:
    """The stages that will run: all checked first (every problem reported at once), then
    each planned with its exact commands (a kind may still refuse)."""
    to_run = [name for name, sp in planned.items() if sp.action == RUN]
    if not to_run:
        return
    problems = preflight.check(recipe, device, to_run)
    if problems:
        raise RecipeError(problems)
    unfit = [p.message for p in preflight.machine_problems(recipe, device, to_run)]
    for name in to_run:
        sp = planned[name]
        sp.reasons += [f"not on this machine: {m}" for m in unfit]
        kind = registry.get_kind(sp.kind)
        ctx = context(recipe, wd, sp, planned, flavour, wd.tmp_out(name))
        try:
            sp.steps_preview = kind.plan(ctx)
        except UserError as exc:
            if exc.problems:
                raise
            raise preflight.refused(recipe, name, exc.message) from None
        sp.reasons += kind.notes(ctx)
        sp.reasons += slurm.check_resources(name, kind, ctx)
        if slurm.on_slurm(kind, ctx):
            sp.jobs = {step.name: slurm.slurm_script(recipe.name, wd, sp, ctx, step)
                          for step in sp.steps_preview}


def _service_state(entry: dict[str, Any]) -> tuple[str, StageStatus, list[str]]:
    """A service stage is done only while its server is up."""
    endpoint = artifacts.as_endpoint(artifacts.of_entry(entry))
    if services.is_serving(endpoint):
        return CACHED, StageStatus.DONE, [f"serving at {endpoint.get('base_url')} "
                                          f"(pid {endpoint.get('pid')})"]
    return RUN, StageStatus.NOT_SERVING, ["not serving"]


def _spare_idle_services(recipe: Recipe, planned: dict[str, StagePlan],
                         wanted: tuple[str, ...]) -> None:
    """A stopped server is left stopped unless something needs it (services.restart_needed);
    one that a stage that runs needs is started even when its stage is not selected (`run
    --only agent`: a run stops the servers it started when it ends), if it is up to date."""
    for name, sp in planned.items():
        kind = registry.get_kind(sp.kind)
        users = [s.name for s in planned.values()
                 if any(name in refs for refs in s.inputs.values()) and s.action == RUN]
        if sp.status == StageStatus.NOT_SERVING and sp.action == RUN:
            if not services.restart_needed(name in wanted,
                                           kind.keeps_serving(recipe.stages[name].options),
                                           bool(users)):
                sp.action = CACHED
                sp.reasons = ["up to date (not serving; no stage that runs needs it)"]
                sp.steps_preview = []
        elif kind.SERVICE and sp.action == SKIP and users and sp.entry is not None and \
                not services.is_serving(artifacts.as_endpoint(artifacts.of_entry(sp.entry))):
            if sp.entry.get("fingerprint") != sp.fingerprint:
                raise UserError(f"stage {users[0]!r} needs the server of {name!r}, which is "
                                f"not serving and is out of date; select {name!r} too "
                                f"(e.g. --only {name},{users[0]})")
            sp.action, sp.status = RUN, StageStatus.NOT_SERVING
            sp.reasons = [f"not serving; needed by {', '.join(users)} (started for it)"]


def _input_fingerprint(up: StagePlan, consumer: str, consumer_selected: bool) -> str:
    if up.action in (RUN, CACHED):
        return up.fingerprint
    if up.entry is not None:     # not selected: its existing output is what gets used
        return str(up.entry["fingerprint"])
    if not consumer_selected:    # neither runs: nothing to hand over
        return "not run"
    raise UserError(f"stage {consumer!r} needs {up.name!r}, which has not run and is not "
                    f"selected; run it first (e.g. --until {up.name}) or widen the selection")


def _made(up: StagePlan) -> str | None:
    """The output an input stage holds now, as its artifact fingerprint; None when it runs
    first or is a server (a restarted one serves what its fingerprint says)."""
    if up.action == RUN or registry.get_kind(up.kind).SERVICE:
        return None
    return artifacts.of_entry(up.entry).get("fingerprint")


def _status(name: str, entry: dict[str, Any] | None, outcome: Outcome | None, fresh: bool,
            wd: WorkDir) -> StageStatus:
    """The stage's status from what the work dir records (never from the reason texts)."""
    if entry is None:
        if outcome == Outcome.INTERRUPTED:
            return StageStatus.INTERRUPTED
        return StageStatus.FAILED if outcome == Outcome.FAILED else StageStatus.NEVER_RUN
    if not fresh or not wd.out(name).is_dir():
        return StageStatus.STALE
    return StageStatus.DONE


def _decide(name: str, fingerprint: str, components: dict[str, Any],
            entry: dict[str, Any] | None, outcome: Outcome | None, wd: WorkDir,
            selected: bool, force: bool) -> tuple[str, StageStatus, list[str]]:
    fresh = entry is not None and entry.get("fingerprint") == fingerprint
    changed = state.output_changed(wd.out(name), entry.get("out_files")) \
        if fresh and entry is not None and wd.out(name).is_dir() else None
    status = _status(name, entry, outcome, fresh and changed is None, wd)
    if not selected:
        return SKIP, status, ["not selected" + ("" if fresh else " (out of date)")]
    if force:
        return RUN, status, ["forced (--force)"]
    reasons: list[str] = []
    if outcome == Outcome.INTERRUPTED:
        reasons.append("interrupted last time")
    failure = wd.failure(name)
    if failure is not None and not fresh:
        reasons.append("failed last time: " + failure[:200])
    if entry is None:
        reasons.append("never run")
        return RUN, status, _dedupe(reasons)
    if not fresh:
        reasons += staleness.why_changed(entry.get("components") or {}, components)
        return RUN, status, _dedupe(reasons or ["fingerprint changed"])
    if not wd.out(name).is_dir():
        return RUN, status, ["output missing"]
    if changed is not None:
        return RUN, status, [f"output changed: {changed}"]
    return CACHED, status, [f"up to date (finished {entry.get('finished', '?')})"]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def context(recipe: Recipe, wd: WorkDir, sp: StagePlan, planned: dict[str, StagePlan],
            flavour: str, out: Path) -> StageContext:
    """The stage's view of the world. At plan time upstream artifacts are those of finished
    entries (or None when the upstream has yet to run); the runner rebuilds it with the real
    ones."""
    inputs: dict[str, list[InputRef]] = {}
    for field_name, refs in sp.inputs.items():
        inputs[field_name] = []
        for ref in refs:
            up = planned[ref]
            artifact = (artifacts.of_entry(up.entry) or None) if up.action != RUN else None
            inputs[field_name].append(InputRef(stage=ref, produces=up.produces,
                                               path=wd.out(ref), artifact=artifact))
    return StageContext(name=sp.name, kind=sp.kind, options=recipe.stages[sp.name].options,
                        recipe_name=recipe.name, recipe_dir=recipe.dir, work=wd.work(sp.name),
                        out=out, inputs=inputs, device=flavour,
                        python=sp.env.python if sp.env else None, env=sp.env,
                        fingerprint=sp.fingerprint, resumable=sp.resumable,
                        resources=recipe.stages[sp.name].resources or recipe.resources,
                        locate=recipe.problem)
