from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    guard,
    run_from_arguments,
    sigterm_as_interrupt,
)


def command(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A local model folder or a hub "
                                         "source (modelscope:OWNER/NAME, hf:…).",
                                         show_default=False)],
    data: Annotated[list[Path], typer.Option("--data", metavar="FILE", help="Training data "
                                             "(repeatable).", show_default=False)],
    data_format: Annotated[str | None, typer.Option(
        "--format", help="openai | alpaca | xtuner (default: detected from the first record)",
        show_default=False)] = None,
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
    sigterm_as_interrupt()
    with guard(json_mode):
        cwd = Path.cwd()
        finetune: dict[str, object] = {
            "data": [str(p if p.is_absolute() else cwd / p) for p in data],
            "method": method, "epochs": epochs, "lr": lr}
        if data_format:
            finetune["format"] = data_format
        stages = {"download": {"source": model}, "finetune": finetune}
        r, code = run_from_arguments("finetune", name, stages, set_, device, json_mode)
    if code == 0 and not json_mode:
        print(f"model: {r.workdir / 'stages' / 'finetune' / 'out'}")
    raise typer.Exit(code)
