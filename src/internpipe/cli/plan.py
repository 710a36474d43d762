from __future__ import annotations

import shlex

import typer

from internpipe import events, pipeline
from internpipe.cli.shared import (
    DeviceOpt,
    ForceOpt,
    FromOpt,
    FullCheckOpt,
    JsonOpt,
    OnlyOpt,
    RecipeArg,
    SetOpt,
    UntilOpt,
    console,
    guard,
)

ACTION_STYLE = {"run": "bold yellow", "cached": "green", "skip": "dim"}


def command(
    recipe: RecipeArg,
    set_: SetOpt = None,
    start: FromOpt = None,
    until: UntilOpt = None,
    only: OnlyOpt = None,
    force: ForceOpt = False,
    device: DeviceOpt = None,
    full_data_check: FullCheckOpt = False,
    json_mode: JsonOpt = False,
) -> None:
    """Show what `run` would do and why, with the exact commands (with the --set values
    given here: those of the last run are named when they differ). Runs nothing.

    Examples:

      internpipe plan recipes/demo-cpu.yaml

      internpipe plan recipe.yaml --set stages.finetune.epochs=3 --json
    """
    with guard(json_mode):
        r = pipeline.load(recipe, set_)
        plan = pipeline.plan(r, device, pipeline.selection(start, until, only, force))
        summary = plan.summary()
    if json_mode:
        events.write({"event": "plan", **summary})
        return
    from rich.table import Table

    out = console()
    out.print(f"[bold]{r.name}[/]  work dir {plan.workdir.root}  device {plan.device}")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("stage", "kind", "action", "why", "fingerprint"):
        table.add_column(col)
    for s in plan.stages:
        table.add_row(s.name, s.kind, f"[{ACTION_STYLE[s.action]}]{s.action}[/]",
                      "; ".join(s.reasons), s.fingerprint[:12])
    out.print(table)
    for e in summary["envs"]:
        out.print(f"env {e['tool']}: {e['env']} ({e['state']})")
    for s in plan.to_run():
        for step in s.steps_preview:
            where = f" [dim](in env {s.env.name})[/]" if s.env and step.tool else ""
            out.print(f"[bold]{s.name}[/] {step.name}{where}:", markup=True)
            job = s.jobs.get(step.name)
            if job is not None:     # the command below runs inside the batch script
                out.print("  $ " + shlex.join(job.command), markup=False)
                out.print(f"  {job.script_path}:", markup=False)
            argv = (step.slurm_argv or step.argv) if job else step.argv
            out.print(("    " if job else "  ") + "$ " + shlex.join(argv), markup=False)
    if not plan.to_run():
        out.print("[green]nothing to run: every selected stage is up to date[/]")
    last = plan.workdir.overrides()
    if last != r.overrides and plan.workdir.entries():   # why stages read as changed here
        out.print("the last run used: " + (" ".join(f"--set {v}" for v in last) or
                                           "no --set"), markup=False)
    raise typer.Exit(0)
