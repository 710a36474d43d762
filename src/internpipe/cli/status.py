from __future__ import annotations

import json
from typing import Any

import typer

from internpipe.cli.common import (
    DeviceOpt,
    JsonOpt,
    RecipeArg,
    SetOpt,
    build_plan,
    console,
    guard,
    load_recipe,
)


def _state(s: object) -> str:
    from internpipe.plan import CACHED, StagePlan

    assert isinstance(s, StagePlan)
    if s.action == CACHED:
        return "done"
    if s.entry is None:
        return "interrupted" if "interrupted last time" in s.reasons else (
            "failed" if any(r.startswith("failed") for r in s.reasons) else "never run")
    return "stale"


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
    with guard(json_mode):
        r = load_recipe(recipe, set_)
        plan = build_plan(r, device, with_steps=False)
    rows: list[dict[str, Any]] = []
    for s in plan.stages:
        entry = s.entry or {}
        rows.append({"stage": s.name, "kind": s.kind, "state": _state(s),
                     "reasons": s.reasons if _state(s) != "done" else [],
                     "fingerprint": s.fingerprint, "finished": entry.get("finished"),
                     "seconds": entry.get("seconds"), "artifact": entry.get("artifact"),
                     "slurm_jobs": _jobs(plan.workdir, s.name, entry)})
    if json_mode:
        print(json.dumps({"event": "status", "recipe": str(r.path), "stages": rows},
                         default=str))
        raise typer.Exit(0)
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("stage", "state", "fingerprint", "finished", "took", "artifact / why"):
        table.add_column(col)
    styles = {"done": "green", "stale": "yellow", "never run": "dim", "failed": "red",
              "interrupted": "yellow"}
    for row in rows:
        took = f"{row['seconds']:.1f}s" if row["seconds"] is not None else ""
        art = row["artifact"] or {}
        detail = art.get("path", "") if row["state"] == "done" else "; ".join(row["reasons"])
        table.add_row(row["stage"], f"[{styles[row['state']]}]{row['state']}[/]",
                      row["fingerprint"][:12], row["finished"] or "", took, detail)
    out = console()
    out.print(f"[bold]{r.name}[/]  work dir {plan.workdir.root}")
    out.print(table)
    for row in rows:
        for j in row["slurm_jobs"]:
            out.print(f"{row['stage']}: Slurm job {j['job_id']} "
                      f"{'(' + j['step'] + ') ' if j['step'] else ''}{j['state']}")
