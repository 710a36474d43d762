from __future__ import annotations

from typing import Any

from internpipe import events, pipeline
from internpipe.cli.shared import JsonOpt, RecipeArg, SetOpt, console, guard


def command(recipe: RecipeArg, set_: SetOpt = None, json_mode: JsonOpt = False) -> None:
    """Evaluate the recipe's quality gates (`gates:`) again from what its finished stages
    recorded, without running anything; rewrites gates.json in the work dir. Exit 1 when a
    gate fails, 0 when every measurable one passes.

    Example:

      internpipe gates recipes/demo-cpu.yaml
    """
    from internpipe import gates
    from internpipe.errors import GateFailed, UserError
    from internpipe.state import WorkDir

    with guard(json_mode):
        r = pipeline.load_remembered(recipe, set_)
        if not r.gates:
            raise UserError(f"{recipe}: the recipe has no `gates:`")
        entries = WorkDir(r.workdir).entries()
        results = [gates.evaluate(g, r, entries) for g in r.gates]
        gates.write(r, results)
        if json_mode:
            for result in results:
                events.write({"event": "gate", **result})
        else:
            show(results)
        failed = [x for x in results if x["passed"] is False]
        if failed:
            raise GateFailed(*gates.failure_message(r, failed))


MARKS = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[dim]not measured[/]"}


def show(results: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("gate", "line", "", "result"):
        table.add_column(col)
    for x in results:
        table.add_row(escape(x["name"]), str(x["line"] or ""), MARKS[x["passed"]],
                      escape(x["message"]))
    console().print(table)
