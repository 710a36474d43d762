"""Executes a Plan (the caller holds the work dir's lock and has recovered what a dead run
left, see pipeline.py): envs ready → for each stage: steps → outputs checked → publish →
state entry written last.
Knows nothing stage-specific: it reads only the members of the stage contract."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import time
import uuid
from collections.abc import Callable
from typing import Any

from internpipe import artifacts, envs, portable, proc, recovery, services, slurm, state
from internpipe import stages as registry
from internpipe.errors import StageFailed, UserError
from internpipe.fingerprint import digest, manifest
from internpipe.modelkind import of_folder as modality_of
from internpipe.plan import CACHED, RUN, Plan, StagePlan, context
from internpipe.progress import Reporter
from internpipe.slurm import on_slurm, slurm_script
from internpipe.stages import InputRef, StageContext, StageKind, Step, base
from internpipe.state import Outcome


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def run(plan: Plan, reporter: Reporter, keep_serving: bool = False,
        after_stage: Callable[[str], None] | None = None) -> None:
    """Run what the plan says, under the work dir's lock (held by the caller). Servers this
    run started are stopped when it ends, unless kept. `after_stage(name)` follows each stage
    (the recipe's gates). Raises StageFailed, EnvBuildError or KeyboardInterrupt."""
    started: list[int] = []     # servers this run started that stop when it ends
    try:
        ready_envs(plan, reporter)
        for sp in plan.stages:
            if sp.action != RUN:
                event: dict[str, Any] = {"event": "stage_finished", "stage": sp.name,
                                         "status": "cached" if sp.action == CACHED
                                         else "skipped",
                                         "reason": "; ".join(sp.reasons)}
                if sp.action == CACHED and sp.entry:
                    event["artifact"] = sp.entry.get("artifact")
                reporter.emit(event)
            else:
                run_stage(plan, sp, reporter, started, keep_serving)
            if after_stage is not None:
                after_stage(sp.name)
    finally:
        for pid in started:
            if services.stop(pid):
                reporter.emit({"event": "server_stopped", "pid": pid})


def ready_envs(plan: Plan, reporter: Reporter) -> None:
    """Every env the run needs, built if missing; each build's events name the stages
    waiting on it (the live view shows "waits for env X" on their rows)."""
    for env in plan.envs_needed():   # ensure() returns at once for an env that is whole
        waiting = [s.name for s in plan.to_run() if s.env is not None and s.env.name == env.name]
        envs.ensure(env.tool, env.flavour, plan.recipe.interpreters,
                    progress=_env_news(reporter, env, waiting))


def _env_news(reporter: Reporter, env: envs.Env, stages: list[str]) -> envs.Progress:
    def say(message: str, /, **counts: int) -> None:
        reporter.emit({"event": "env_build", "tool": env.tool, "env": env.name,
                       "stages": stages, "message": message, **counts})

    return say


def _step_env(plan: Plan, sp: StagePlan, step: Step, reporter: Reporter) -> envs.Env | None:
    """The env a step runs in: none, the stage's, or (a step naming another tool, like a
    GGUF download's fetch through a hub client) that tool's, built when missing."""
    if not step.tool:
        return None
    if sp.env is not None and step.tool == sp.env.tool:
        return sp.env

    env = envs.env_for(step.tool, plan.device, plan.recipe.interpreters)
    return envs.ensure(step.tool, plan.device, plan.recipe.interpreters,
                       progress=_env_news(reporter, env, [sp.name]))


def runtime_context(plan: Plan, sp: StagePlan) -> StageContext:
    """The context with the upstream artifacts as they are now in the state."""
    wd = plan.workdir
    entries = wd.entries()
    base = context(plan.recipe, wd, sp, {s.name: s for s in plan.stages}, plan.device,
                   wd.tmp_out(sp.name))
    inputs = {f: [InputRef(stage=r.stage, produces=r.produces, path=r.path,
                           artifact=artifacts.of_entry(entries.get(r.stage)) or None)
                  for r in refs] for f, refs in base.inputs.items()}
    return StageContext(**{**base.__dict__, "inputs": inputs})


def run_stage(plan: Plan, sp: StagePlan, reporter: Reporter, started: list[int] | None = None,
              keep_serving: bool = False) -> None:
    wd = plan.workdir
    kind = registry.get_kind(sp.kind)
    token = uuid.uuid4().hex
    stage_dir = wd.stage_dir(sp.name)
    stage_dir.mkdir(parents=True, exist_ok=True)
    state.write_json(wd.marker(sp.name), {"token": token, "pid": os.getpid(),
                                          "fingerprint": sp.fingerprint, "started": _now()})
    tmp = wd.tmp_out(sp.name)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    wd.work(sp.name).mkdir(parents=True, exist_ok=True)
    started_at, t0 = _now(), time.monotonic()
    reporter.emit({"event": "stage_started", "stage": sp.name, "kind": sp.kind,
                   "reasons": sp.reasons})
    jobs: list[dict[str, Any]] = []     # Slurm jobs of this stage, for the state entry
    try:
        ctx = runtime_context(plan, sp)
        steps = kind.plan(ctx)
        # Line-buffered: each line reaches the disk as it comes (see proc.emit_line).
        with open(wd.log(sp.name), "w", encoding="utf-8", buffering=1) as log:
            log.write(f"[internpipe] stage {sp.name} ({sp.kind}) started {started_at}\n")
            for step in steps:
                for rel, text in step.files.items():
                    target = ctx.work / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(text, encoding="utf-8")
                reporter.emit({"event": "step_started", "stage": sp.name, "step": step.name,
                               "argv": step.argv})
                step_env = _step_env(plan, sp, step, reporter)
                environ = envs.step_environ(step_env, {**step.env, proc.TOKEN_VAR: token},
                                            offline=step.offline)

                def on_line(line: str, _stage: str = sp.name, partial: bool = False) -> None:
                    # A tool's bar redrawn with \r arrives as partial lines: progress only
                    # (the log keeps the line's last state when its newline comes).
                    update = base.worker_progress(line)
                    if update is None:
                        if not partial:
                            reporter.emit({"event": "log", "stage": _stage, "line": line})
                        update = kind.parse_line(line)
                    if update:
                        reporter.emit({"event": "progress", "stage": _stage, **update})

                if on_slurm(kind, ctx):
                    job = _run_on_slurm(plan, sp, ctx, step, environ, log, on_line, reporter,
                                        jobs)
                    if job.reason is not None:
                        raise StageFailed(sp.name, job.reason, job.tail[-15:],
                                          str(wd.log(sp.name)))
                    continue
                result = proc.run(step.argv, env=environ, cwd=step.cwd or ctx.work, log=log,
                                  on_line=on_line,
                                  on_partial=functools.partial(on_line, partial=True))
                if result.returncode == REFUSED and step.refuses_input:
                    raise ctx.refuse(_failure_reason(step.name, result), *step.refuses_input)
                if result.returncode != 0:
                    raise StageFailed(sp.name, _failure_reason(step.name, result),
                                      result.tail[-15:], str(wd.log(sp.name)))
            served: list[list[str]] = []      # the server's command, for the lineage
            if kind.serve is not None:
                served.append(_start_service(sp, ctx, kind, token, started, keep_serving,
                                             reporter))
            collected = kind.collect(ctx)
        artifact = _finish_output(plan, sp, ctx, dict(collected))
        artifact["path"] = str(wd.out(sp.name))
        entry = {"outcome": Outcome.FINISHED.value, "fingerprint": sp.fingerprint,
                 "components": sp.components,
                 "artifact": artifact, "kind": sp.kind, "started": started_at,
                 "finished": _now(), "seconds": round(time.monotonic() - t0, 3),
                 "log": str(wd.log(sp.name)), "steps": [s.argv for s in steps] + served,
                 # the outputs it read: a forced re-run upstream that makes another output
                 # (training is not deterministic) leaves the fingerprint as it was
                 "consumed": consumed(ctx),
                 # plan's cheap check of a cached output (publishing renames and chmods, so
                 # sizes and mtimes are those of the built folder)
                 "out_files": state.snapshot(ctx.out)}
        if jobs:
            entry["slurm_jobs"] = jobs
        # The entry goes into the marker before out/ changes: a run killed between the
        # publish and the state entry is completed by the next one (recovery.py).
        state.write_json(wd.marker(sp.name), {**recovery.marker_info(wd, sp.name),
                                              recovery.PUBLISHING: entry})
        wd.publish(sp.name)
        wd.write_entry(sp.name, entry)            # last: the stage now counts as finished
        for leftover in (wd.marker(sp.name), stage_dir / "FAILED"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        reporter.emit({"event": "stage_finished", "stage": sp.name, "status": "ok",
                       "seconds": entry["seconds"], "artifact": artifact})
    except StageFailed as exc:
        exc.log_path = exc.log_path or str(wd.log(sp.name))
        _record_failure(wd, sp.name, exc.reason, reporter, t0, {"log": exc.log_path})
        raise
    except UserError as exc:
        # A refusal at run time (busy port, a file gone since planning): the stage did not
        # run, and says why like a failure; the marker goes, it was not interrupted.
        _record_failure(wd, sp.name, exc.message, reporter, t0, {})
        raise
    except OSError as exc:
        # The machine refused a read or write of ours (a full disk): a failure, said so.
        _record_failure(wd, sp.name, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                        reporter, t0, {})
        raise
    except KeyboardInterrupt:
        # The marker stays: the next plan says "interrupted last time" and the next run
        # sweeps anything the stage left behind.
        shutil.rmtree(tmp, ignore_errors=True)
        reporter.emit({"event": "stage_finished", "stage": sp.name, "status": "interrupted",
                       "seconds": round(time.monotonic() - t0, 3)})
        raise


def _record_failure(wd: state.WorkDir, stage: str, reason: str, reporter: Reporter,
                    t0: float, extra: dict[str, Any]) -> None:
    shutil.rmtree(wd.tmp_out(stage), ignore_errors=True)
    with contextlib.suppress(OSError):    # on a full disk even this may not be written
        (wd.stage_dir(stage) / "FAILED").write_text(reason + "\n")
    with contextlib.suppress(OSError):
        wd.marker(stage).unlink()
    reporter.emit({"event": "stage_finished", "stage": stage, "status": "failed",
                   "seconds": round(time.monotonic() - t0, 3), "reason": reason, **extra})


def _start_service(sp: StagePlan, ctx: StageContext, kind: StageKind, token: str,
                   started: list[int] | None, keep_serving: bool,
                   reporter: Reporter) -> list[str]:
    """Start the stage's server and wait for it; it is stopped when the run ends unless the
    stage's options keep it (`keeps_serving`) or the run has --keep-serving. Returns the
    server's command."""
    assert kind.serve is not None
    previous = services.stop_previous(ctx.work)    # first: it may hold the port serve() wants
    if previous is not None:
        reporter.emit({"event": "server_stopped", "stage": sp.name, "pid": previous,
                       "previous": True})
    spec = kind.serve(ctx)
    if on_slurm(kind, ctx):
        slurm.serve_as_job(spec, ctx.resources, f"internpipe-{sp.name}-{token[:12]}",
                           ctx.work)
    keep = keep_serving or kind.keeps_serving(ctx.options)
    reporter.emit({"event": "step_started", "stage": sp.name, "step": "serve",
                   "argv": spec.argv})
    try:
        pid = services.launch(spec, ctx.work, token, keep)
    except services.ServiceFailed as exc:
        raise StageFailed(sp.name, exc.reason, exc.tail,
                          str(services.log_of(ctx.work))) from None
    if started is not None and not keep:
        started.append(pid)
    reporter.emit({"event": "server_started", "stage": sp.name, "base_url": spec.base_url,
                   "pid": pid})
    return list(spec.argv)


def _run_on_slurm(plan: Plan, sp: StagePlan, ctx: StageContext, step: Step,
                  environ: dict[str, str], log: Any, on_line: Callable[[str], None],
                  reporter: Reporter, jobs: list[dict[str, Any]]) -> slurm.JobResult:
    wd = plan.workdir
    batch = slurm_script(plan.recipe.name, plan.workdir, sp, ctx, step)
    script_path, output = batch.script_path, batch.output
    script_path.write_text(batch.script)
    with contextlib.suppress(FileNotFoundError):
        output.unlink()
    job_env = slurm.job_environ(environ)
    log.write(f"[internpipe] $ {shlex.join(batch.command)}\n")
    job_id = slurm.submit(batch.command, job_env)
    record = {"step": step.name, "job_id": job_id, "state": "PENDING",
              "script": str(script_path), "output": str(output), "sbatch": batch.command}
    jobs.append(record)
    marker = state.read_json(wd.marker(sp.name), {})
    marker["slurm_jobs"] = [*marker.get("slurm_jobs", []), job_id]
    state.write_json(wd.marker(sp.name), marker)
    log.write(f"[internpipe] submitted {script_path} as Slurm job {job_id}\n")

    def on_state(job_state: str) -> None:
        record["state"] = job_state
        reporter.emit({"event": "log", "stage": sp.name,
                       "line": f"[slurm] job {job_id} {job_state}"})
        reporter.emit({"event": "slurm_job", "stage": sp.name, "step": step.name,
                       "job_id": job_id, "state": job_state})

    result = slurm.follow(job_id, output, job_env, log, on_line, on_state)
    record["state"] = result.info.get("JobState", record["state"])
    return result


PYTHON_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit): \S")


REFUSED = 2      # a checking step's exit code for an input it refuses (a user error)


def _failure_reason(step: str, result: proc.StepResult) -> str:
    """A worker states why it failed on a line starting `internpipe-error: `; else the exit
    code is all we know."""
    for line in reversed(result.tail):
        if line.startswith("internpipe-error: "):
            return line.removeprefix("internpipe-error: ")
    # An upstream tool that died of an exception: its last line names it.
    for line in reversed(result.tail):
        if PYTHON_EXCEPTION.match(line):
            return f"step {step!r} exited with code {result.returncode}: {line.strip()[:300]}"
    return f"step {step!r} exited with code {result.returncode}"


def consumed(ctx: StageContext) -> dict[str, str]:
    """Each upstream stage's artifact fingerprint, as this stage read it."""
    return {ref.stage: str(ref.artifact["fingerprint"]) for refs in ctx.inputs.values()
            for ref in refs if ref.artifact and ref.artifact.get("fingerprint")}


def _finish_output(plan: Plan, sp: StagePlan, ctx: StageContext,
                   artifact: dict[str, Any]) -> dict[str, Any]:
    """Write manifest.json and provenance.json into the built output; the artifact's
    fingerprint is the manifest's hash, computed once here. A model folder is first made
    readable alike by every tool env's transformers (portable.py)."""
    tmp = ctx.out
    if sp.produces == artifacts.MODEL:
        portable.normalise(tmp)
        artifact = {**artifact, "modality": modality_of(tmp)}
    files = manifest(tmp)
    state.write_json(tmp / "manifest.json", files)
    entries = plan.workdir.entries()
    parents = {f: [{"stage": r.stage,
                    "fingerprint": (entries.get(r.stage) or {}).get("fingerprint"),
                    "artifact_fingerprint": artifacts.of_entry(
                        entries.get(r.stage)).get("fingerprint")}
                   for r in refs] for f, refs in ctx.inputs.items()}
    versions = {}
    if sp.env is not None:
        # A package the env does not hold (the agent's openai) is left out, not "null".
        versions = {k: v for k, v in ((envs.read_marker(sp.env) or {}).get("versions")
                                      or {}).items() if v is not None}
    provenance = {"stage": sp.name, "kind": sp.kind, "recipe": str(plan.recipe.path),
                  "fingerprint": sp.fingerprint, "options": sp.components["options"],
                  "env": sp.env.name if sp.env else None, "tool_versions": versions,
                  "parents": parents, "created": _now(),
                  **{k: v for k, v in artifact.items()
                     if k in ("source", "chat_template", "gguf", "modality")}}
    state.write_json(tmp / "provenance.json", provenance)
    return {**artifact, "kind": sp.produces, "fingerprint": digest(files),
            "files": len(files["files"]),
            "bytes": sum(f["size"] for f in files["files"])}

