from __future__ import annotations

from typing import Annotated

import typer

from internpipe import pipeline
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
    guard,
    run_recipe,
    sigterm_as_interrupt,
)


def command(
    recipe: RecipeArg,
    set_: SetOpt = None,
    start: FromOpt = None,
    until: UntilOpt = None,
    only: OnlyOpt = None,
    force: ForceOpt = False,
    wait: Annotated[bool, typer.Option("--wait", help="If another run holds the work dir, "
                                                      "wait for it instead of failing.")] = False,
    keep_serving: Annotated[bool, typer.Option("--keep-serving", help="Leave the servers the "
                                               "run started running.")] = False,
    device: DeviceOpt = None,
    full_data_check: FullCheckOpt = False,
    json_mode: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Show the tools' output: every line when not on a "
                                               "terminal, a longer log tail under the bars "
                                               "on one.")] = False,
) -> None:
    """Run a recipe: every stage that is not up to date, in order.

    Stages whose fingerprint (options, tool environment, inputs) matches their last finished
    run are skipped. Each stage's output is built aside and moved into place only when
    complete; its log is in the work dir (`.internpipe/NAME/stages/STAGE/log.txt`).

    Examples:

      internpipe run recipes/demo-cpu.yaml

      internpipe run recipe.yaml --from finetune --set stages.finetune.lr=1e-4

      internpipe run recipe.yaml --only evaluate --force --json
    """
    sigterm_as_interrupt()
    with guard(json_mode):
        r = pipeline.load(recipe, set_)
        sel = pipeline.selection(start, until, only, force)
        sel.check(r.order)   # refuse a bad selection before waiting for the lock
        code = run_recipe(r, device, sel, json_mode, wait=wait,
                              keep_serving=keep_serving, verbose=verbose)
    raise typer.Exit(code)
