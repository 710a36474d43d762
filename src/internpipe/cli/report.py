from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def command(
    recipe: RecipeArg,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Where to write report.html and report.json "
        "(default: the work dir's report/).", show_default=False)] = None,
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Write the run report: one self-contained HTML file and report.json with the plan, the
    loss curve, the score table, the drift figures, the endpoint, the agent transcripts and
    the lineage (fingerprints, tool versions, exact commands). Runs nothing.

    Examples:

      internpipe report recipes/demo-cpu.yaml

      internpipe report recipes/demo-cpu.yaml -o site/
    """
    from internpipe import report

    with guard(json_mode):
        r = pipeline.load(recipe, set_)
        plan = pipeline.plan(r, device, with_steps=False)
        page, data = report.write(plan, out or plan.workdir.root / "report")
    if json_mode:
        events.write({"event": "report", "html": str(page), "json": str(data)})
    else:
        console().print(f"report: {page}\n        {data}")
