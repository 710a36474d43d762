"""`internpipe init`: a first recipe from three answers (model, data file, method), asked
at a terminal or given as flags. The recipe is checked the way `validate` checks it before it
is written, so what lands on disk is valid."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer

from internpipe.cli.shared import guard, say

METHODS = ("lora", "qlora", "full")


def _ask(value: str | None, question: str, default: str | None, interactive: bool,
         flag: str) -> str:
    from internpipe.errors import UserError

    if value:
        return value
    if not interactive:
        if default is not None:
            return default
        raise UserError(f"{flag} is needed when stdin is not a terminal (or answer the "
                        "questions at one)")
    return str(typer.prompt(question, default=default))


def recipe_text(name: str, model: str, data: str, method: str, data_format: str | None,
                device: str) -> str:
    """The recipe, commented for a first reader. Values are quoted as YAML strings."""
    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    fmt = f"    format: {data_format}\n" if data_format else ""
    return (
        "# Written by `internpipe init`. Check it: internpipe validate THIS_FILE\n"
        "# See what would run:                 internpipe plan THIS_FILE\n"
        "version: 1\n"
        f"name: {name}\n"
        f"device: {device}                        # auto | cpu | cuda\n"
        "stages:\n"
        "  download:                           # a local folder, or modelscope:OWNER/NAME,\n"
        f"    source: {q(model)}   # openxlab:…, hf:…\n"
        "  finetune:                           # XTuner\n"
        f"    method: {method}                       # lora | qlora (CUDA) | full\n"
        f"    data: {q(data)}\n"
        f"{fmt}"
        "    epochs: 1\n"
        "  # evaluate:                         # OpenCompass: base vs tuned, e.g.\n"
        "  #   datasets:\n"
        "  #     - {path: data/held_out.jsonl, type: qa}   # question/answer rows\n"
        "  #     - ceval_gen                               # an OpenCompass dataset\n")


def command(
    model: Annotated[str | None, typer.Option("--model", metavar="SOURCE", help="A local model "
                                              "folder or modelscope:/openxlab:/hf:OWNER/NAME.",
                                              show_default=False)] = None,
    data: Annotated[str | None, typer.Option("--data", metavar="FILE", help="The training "
                                             "data (JSON/JSONL).", show_default=False)] = None,
    method: Annotated[str | None, typer.Option("--method", help="lora | qlora | full.",
                                               show_default=False)] = None,
    data_format: Annotated[str | None, typer.Option(
        "--format", help="openai | alpaca | xtuner (the data's format).",
        show_default=False)] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    output: Annotated[Path, typer.Option("--output", "-o", help="The recipe to write.")
                      ] = Path("recipe.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT.")] = False,
) -> None:
    """Write a first recipe: download a model and fine-tune it on your data with XTuner (an
    evaluate stage is sketched in comments). Asks for what the flags do not give (at a
    terminal); the recipe is validated before it is written.

    Examples:

      internpipe init

      internpipe init --model modelscope:Shanghai_AI_Laboratory/internlm2_5-1_8b-chat \\
          --data data/assistant.json --method qlora --device cuda -o assistant.yaml
    """
    import sys

    from internpipe import preflight
    from internpipe import recipe as recipe_mod
    from internpipe.errors import Problem, RecipeError, UserError

    with guard():
        interactive = sys.stdin.isatty()
        if output.exists() and not force:
            raise UserError(f"{output} exists; use --force or another --output")
        model = _ask(model, "Model (a folder, or modelscope:OWNER/NAME)", None, interactive,
                     "--model")
        data = _ask(data, "Training data file (JSON/JSONL)", None, interactive, "--data")
        method = _ask(method, "Method (lora | qlora | full)", "lora", interactive, "--method")
        if method not in METHODS:
            raise UserError(f"--method {method!r}: one of {', '.join(METHODS)}")
        if method == "qlora" and device == "auto":
            device = "cuda"                 # QLoRA is 4-bit bitsandbytes: CUDA only
        folder = output.resolve().parent
        data_path = Path(data).expanduser()
        if not data_path.is_absolute():
            data_path = Path.cwd() / data_path
        data_rel = os.path.relpath(data_path, folder)
        name = re.sub(r"[^a-z0-9_-]+", "-", output.stem.lower()).strip("-_") or "recipe"
        if not name[0].isalpha():
            name = "r-" + name
        text = recipe_text(name, model, data_rel, method, data_format, device)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{output.name}.init.tmp"
        tmp.write_text(text, encoding="utf-8")
        try:
            r = recipe_mod.load(tmp)
            problems = preflight.check(r)
        except UserError as exc:
            problems = exc.problems or [Problem(str(output), None, "", exc.message)]
        if problems:
            tmp.unlink()
            raise RecipeError([Problem(str(output) if p.file == str(tmp) else p.file, p.line,
                                       p.field, p.message) for p in problems])
        os.replace(tmp, output)
    say(("✔", "green"), f" wrote {output}")
    say(f"next: internpipe plan {output}   then: internpipe run {output}")
