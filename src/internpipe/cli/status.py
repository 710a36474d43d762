from __future__ import annotations

from typing import Any

import typer

from internpipe import events, pipeline
from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    RecipeArg,
    SetOpt,
    console,
    guard,
)


def _jobs(wd: Any, stage: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's Slurm jobs: those of its finished run, or live ones of a running run."""
    from internpipe import slurm, state

    marker = state.read_json(wd.marker(stage), {})
    live = slurm.running_jobs(marker) if isinstance(marker, dict) else []
    if live:
        import os

        return [{"step": "", "job_id": j,
                 "state": slurm.job_info(j, dict(os.environ)).get("JobState", "UNKNOWN")}
                for j in live]
    return [{k: j.get(k) for k in ("step", "job_id", "state")}
            for j in entry.get("slurm_jobs", [])]


def command(recipe: RecipeArg, set_: SetOpt = None, device: DeviceOpt = None,
            json_mode: JsonOpt = False) -> None:
    """Show each stage's state: done, stale (and why), failed, interrupted, running (a run
    holds the work dir now: its pid) or never run; its fingerprint, when it finished, how
    long it took and its artifact. Without --set, the last run's --set values are used.

    Example:

      internpipe status recipes/demo-cpu.yaml
    """
    from internpipe.state import StageStatus, lock_holder

    with guard(json_mode):
        r = pipeline.load_remembered(recipe, set_)
        plan = pipeline.plan(r, device, with_steps=False)
    holder = lock_holder(plan.workdir.root / "run.lock")
    rows: list[dict[str, Any]] = []
    for s in plan.stages:
        entry = s.entry or {}
        row = {"stage": s.name, "kind": s.kind, "state": s.status.value,
               "reasons": s.reasons if s.status != StageStatus.DONE else [],
               "fingerprint": s.fingerprint, "finished": entry.get("finished"),
               "seconds": entry.get("seconds"), "artifact": entry.get("artifact"),
               "slurm_jobs": _jobs(plan.workdir, s.name, entry)}
        running = _running_since(plan.workdir, s.name, holder)
        if running is not None:    # its RUNNING marker is the live run's, not a dead one's
            row.update(state=StageStatus.RUNNING.value, pid=holder and holder.get("pid"),
                       started=running, reasons=[])
        rows.append(row)
    if json_mode:
        events.write({"event": "status", "recipe": str(r.path), "stages": rows,
                      "run": holder, "overrides": r.overrides})
        raise typer.Exit(0)
    _show(r.name, plan.workdir.root, rows, holder)
    if r.overrides and not set_:
        console().print("with the last run's overrides: " +
                        " ".join(f"--set {v}" for v in r.overrides), markup=False)


def _running_since(wd: Any, stage: str, holder: dict[str, Any] | None) -> str | None:
    """When the stage started, if the run that holds the lock now is running it."""
    from internpipe import state

    if holder is None:
        return None
    marker = state.read_json(wd.marker(stage), {})
    if not isinstance(marker, dict) or not marker:
        return None
    if holder.get("pid") not in (None, marker.get("pid")):
        return None
    return str(marker.get("started") or "")


def ago(stamp: str | None, now: float | None = None) -> str:
    """`2026-11-29T10:38:15+0000` → `3 min ago` (the stamp itself when unreadable)."""
    import time
    from datetime import datetime

    if not stamp:
        return ""
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return stamp
    seconds = max(0, int((now or time.time()) - then))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _show(name: str, root: Any, rows: list[dict[str, Any]],
          holder: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from internpipe.state import StageStatus

    table = Table(show_edge=False, pad_edge=False)
    for col in ("stage", "state", "fingerprint", "finished", "took"):
        table.add_column(col, no_wrap=True)
    table.add_column("artifact / why", overflow="fold")     # a path wraps, it is never cut
    styles = {StageStatus.DONE: "green", StageStatus.STALE: "yellow",
              StageStatus.NEVER_RUN: "dim", StageStatus.FAILED: "red",
              StageStatus.INTERRUPTED: "yellow", StageStatus.NOT_SERVING: "dim",
              StageStatus.RUNNING: "bold cyan"}
    for row in rows:
        took = f"{row['seconds']:.1f}s" if row["seconds"] is not None else ""
        art = row["artifact"] or {}
        state = row["state"]
        when = ago(row["finished"])
        if state == StageStatus.RUNNING:
            state = f"running (pid {row['pid']})"
            when, took = f"started {ago(row['started'])}", ""
        detail = art.get("path", "") if row["state"] == "done" else "; ".join(row["reasons"])
        table.add_row(row["stage"], f"[{styles[StageStatus(row['state'])]}]{state}[/]",
                      row["fingerprint"][:12], when, took, detail)
    # wrapped at the terminal's width (the shared console does not wrap, for log lines)
    out = Console(no_color=console().no_color, highlight=False)
    out.print(f"[bold]{name}[/]  work dir {root}")
    if holder is not None:
        out.print(f"[cyan]a run holds the work dir: pid {holder.get('pid')} on "
                  f"{holder.get('host')}, started {ago(holder.get('started'))}[/]")
    out.print(table)
    for row in rows:
        for j in row["slurm_jobs"]:
            out.print(f"{row['stage']}: Slurm job {j['job_id']} "
                      f"{'(' + j['step'] + ') ' if j['step'] else ''}{j['state']}")
