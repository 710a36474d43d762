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
    """Show each stage's state: done, stale (and why), failed, interrupted or never run; its
    fingerprint, when it finished, how long it took and its artifact.

    Example:

      internpipe status recipes/demo-cpu.yaml
    """
    from internpipe.state import StageStatus

    with guard(json_mode):
        r = pipeline.load(recipe, set_)
        plan = pipeline.plan(r, device, with_steps=False)
    rows: list[dict[str, Any]] = []
    for s in plan.stages:
        entry = s.entry or {}
        rows.append({"stage": s.name, "kind": s.kind, "state": s.status.value,
                     "reasons": s.reasons if s.status != StageStatus.DONE else [],
                     "fingerprint": s.fingerprint, "finished": entry.get("finished"),
                     "seconds": entry.get("seconds"), "artifact": entry.get("artifact"),
                     "slurm_jobs": _jobs(plan.workdir, s.name, entry)})
    if json_mode:
        events.write({"event": "status", "recipe": str(r.path), "stages": rows})
        raise typer.Exit(0)
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("stage", "state", "fingerprint", "finished", "took", "artifact / why"):
        table.add_column(col)
    styles = {StageStatus.DONE: "green", StageStatus.STALE: "yellow",
              StageStatus.NEVER_RUN: "dim", StageStatus.FAILED: "red",
              StageStatus.INTERRUPTED: "yellow", StageStatus.NOT_SERVING: "dim"}
    for row in rows:
        took = f"{row['seconds']:.1f}s" if row["seconds"] is not None else ""
        art = row["artifact"] or {}
        detail = art.get("path", "") if row["state"] == "done" else "; ".join(row["reasons"])
        table.add_row(row["stage"], f"[{styles[StageStatus(row['state'])]}]{row['state']}[/]",
                      row["fingerprint"][:12], row["finished"] or "", took, detail)
    out = console()
    out.print(f"[bold]{r.name}[/]  work dir {plan.workdir.root}")
    out.print(table)
    for row in rows:
        for j in row["slurm_jobs"]:
            out.print(f"{row['stage']}: Slurm job {j['job_id']} "
                      f"{'(' + j['step'] + ') ' if j['step'] else ''}{j['state']}")
