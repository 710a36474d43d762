from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from internpipe import events, pipeline
from internpipe.cli import complete
from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    console,
    guard,
)
from internpipe.errors import UserError


def command(
    recipe: Annotated[Path | None, typer.Argument(
        help="The recipe file (YAML).", show_default=False, metavar="RECIPE",
        autocompletion=complete.recipe_files)] = None,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(
        "--compare", metavar="A B", help="Two runs side by side instead: two recipe files "
        "or two work dirs (.internpipe/NAME/, or a copy of one): scores, training curves "
        "and lineage. Writes compare.html and compare.json.", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Where to write report.html and report.json "
        "(default: the work dir's report/).", show_default=False)] = None,
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Write the run report: one self-contained HTML file (charts drawn inline, nothing
    fetched) and report.json with each stage's state, the quality gates, the training
    curves (loss, lr, grad norm) and sample generations, the scores with every dataset's
    per-item answers, the drift figures against their thresholds, the endpoint, load-test
    results, the agent transcripts and the lineage (fingerprints, tool versions, exact
    commands). Without --set, the last run's --set values are used. Runs nothing.

    Examples:

      internpipe report recipes/demo-cpu.yaml

      internpipe report recipes/demo-cpu.yaml -o site/

      internpipe report --compare recipes/demo-cpu.yaml recipes/demo-tiny.yaml
    """
    from internpipe import report
    from internpipe.report import compare as comparing

    with guard(json_mode):
        if compare is not None:
            if recipe is not None:
                raise UserError("give either RECIPE or --compare A B, not both")
            first = comparing.open_run(compare[0])[1].root
            page, data = comparing.write(compare[0], compare[1], out or first / "report")
        elif recipe is None:
            raise UserError("missing RECIPE (or --compare A B); see internpipe report --help")
        else:
            r = pipeline.load_remembered(recipe, set_)
            plan = pipeline.plan(r, device, with_steps=False)
            page, data = report.write(plan, out or plan.workdir.root / "report",
                                      r.overrides)
    if json_mode:
        events.write({"event": "report", "html": str(page), "json": str(data)})
    else:
        console().print(f"report: {page}\n        {data}", markup=False)
