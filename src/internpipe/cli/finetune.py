from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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
    data_format: Annotated[Literal["openai", "alpaca", "xtuner", "llava"] | None, typer.Option(
        "--format", help="The data's format (default: detected from the first record; llava: "
        "image questions for a vision-language model).", show_default=False)] = None,
    image_folder: Annotated[Path | None, typer.Option(
        "--image-folder", metavar="DIR", help="Where llava data's image paths start "
        "(default: the data file's folder).", show_default=False)] = None,
    method: Annotated[Literal["lora", "qlora", "full"], typer.Option(
        "--method", help="LoRA, QLoRA (CUDA) or full fine-tuning.")] = "lora",
    epochs: Annotated[int, typer.Option("--epochs", "--max-epochs")] = 1,
    template: Annotated[str | None, typer.Option(
        "--prompt-template", "--template", help="An XTuner prompt template (internlm2_chat, "
        "…; default: from the model's chat template).", show_default=False)] = None,
    deepspeed: Annotated[str | None, typer.Option(
        "--deepspeed", help="deepspeed_zero1 | deepspeed_zero2 | deepspeed_zero3 (CUDA).",
        show_default=False)] = None,
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

      internpipe finetune modelscope:Shanghai_AI_Laboratory/internlm2_5-1_8b-chat \\
          --data d.jsonl --method qlora --device cuda

      internpipe finetune ./internlm2_5-7b-chat --data assistant.jsonl --method qlora \\
          --prompt-template internlm2_chat --deepspeed deepspeed_zero2 --max-epochs 3

      internpipe finetune modelscope:OpenGVLab/InternVL2-2B --data sivqa_llava.json \\
          --image-folder FoodieQA --device cuda
    """
    sigterm_as_interrupt()
    with guard(json_mode):
        cwd = Path.cwd()
        finetune: dict[str, object] = {
            "data": [str(p if p.is_absolute() else cwd / p) for p in data],
            "method": method, "epochs": epochs, "lr": lr,
            **({"template": template} if template else {}),
            **({"deepspeed": deepspeed} if deepspeed else {})}
        if data_format:
            finetune["format"] = data_format
        if image_folder:
            finetune["image_folder"] = str(image_folder if image_folder.is_absolute()
                                           else cwd / image_folder)
        stages = {"download": {"source": model}, "finetune": finetune}
        r, code = run_from_arguments("finetune", name, stages, set_, device, json_mode)
    if code == 0 and not json_mode:
        print(f"model: {r.workdir / 'stages' / 'finetune' / 'out'}")
    raise typer.Exit(code)
