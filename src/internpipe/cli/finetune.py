from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from internpipe.cli.common import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    build_plan,
    guard,
    sigterm_as_interrupt,
)


def command(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A local model folder or a hub "
                                         "source (modelscope:OWNER/NAME, hf:…).",
                                         show_default=False)],
    data: Annotated[list[Path], typer.Option("--data", metavar="FILE", help="Training data "
                                             "(repeatable).", show_default=False)],
    data_format: Annotated[str, typer.Option("--format", help="openai | alpaca | xtuner")
                           ] = "openai",
    method: Annotated[str, typer.Option("--method", help="lora | qlora | full")] = "lora",
    epochs: Annotated[int, typer.Option("--epochs")] = 1,
    lr: Annotated[float, typer.Option("--lr")] = 2e-4,
    name: Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")
                    ] = "finetune",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Fine-tune a model with XTuner from plain arguments: the same stages as a recipe's
    `download:` + `finetune:`, in .internpipe/NAME/ here. More options with --set, e.g.
    --set stages.finetune.lora.r=16.

    Examples:

      internpipe finetune ./base --data data/assistant.jsonl --epochs 3

      internpipe finetune modelscope:Shanghai_AI_Laboratory/internlm2_5-1_8b-chat \
          --data d.jsonl --method qlora --device cuda
    """
    import yaml

    from internpipe import recipe as recipe_mod
    from internpipe.errors import Problem, RecipeError, UserError
    from internpipe.progress import make_reporter
    from internpipe.runner import execute

    sigterm_as_interrupt()
    with guard(json_mode):
        cwd = Path.cwd()
        doc = {"version": 1, "name": name, "stages": {
            "download": {"source": model},
            "finetune": {"data": [str(p if p.is_absolute() else cwd / p) for p in data],
                         "format": data_format, "method": method, "epochs": epochs,
                         "lr": lr}}}
        try:
            r = recipe_mod.parse(yaml.safe_dump(doc).encode(), cwd / "internpipe-finetune.yaml",
                                 set_ or [])
        except RecipeError as exc:
            raise UserError("bad arguments", [
                Problem("internpipe finetune", None, p.field.rpartition(".")[2].upper(),
                        p.message) for p in exc.problems]) from None
        reporter = make_reporter(json_mode)
        try:
            code = execute(r.workdir, lambda: build_plan(r, device), reporter)
        finally:
            reporter.close()
    if code == 0 and not json_mode:
        print(f"model: {r.workdir / 'stages' / 'finetune' / 'out'}")
    raise typer.Exit(code)
