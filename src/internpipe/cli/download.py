from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Annotated

import typer

from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    guard,
    run_from_arguments,
    sigterm_as_interrupt,
)


def _own_copy(src: str, dst: str) -> None:
    """The user's copy (--to): never a hard link to the published output (the same file:
    an edit there would change the recipe's artifact and the shared model cache), and
    writable, unlike the output's files."""
    from internpipe.workers.link_model import clone_or_copy

    clone_or_copy(src, dst)
    os.chmod(dst, os.stat(dst).st_mode | 0o200)


def command(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", help="modelscope:OWNER/NAME, openxlab:OWNER/NAME, hf:OWNER/NAME or a "
                               "local folder.", show_default=False)],
    to: Annotated[Path | None, typer.Option("--to", metavar="DIR", help="Also place the model "
                                            "here (copy-on-write where the file system can, "
                                            "else a copy).", show_default=False)] = None,
    revision: Annotated[str | None, typer.Option("--revision", metavar="REV",
                                                 show_default=False)] = None,
    include: Annotated[list[str] | None, typer.Option("--include", metavar="PATTERN",
                                                      show_default=False)] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", metavar="PATTERN",
                                                      show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", metavar="URL",
                                                 help="A mirror of the hub.",
                                                 show_default=False)] = None,
    chat_template: Annotated[str | None, typer.Option("--chat-template", metavar="NAME",
                                                      show_default=False)] = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Download a model with its hub's official client, verified, into the shared model cache
    (and --to DIR). The same stage as a recipe's `download:`, from plain arguments.

    Examples:

      internpipe download modelscope:Shanghai_AI_Laboratory/internlm2_5-1_8b-chat --to ./base

      internpipe download hf:internlm/internlm2_5-7b-chat --include '*.safetensors'

      internpipe download ./my-model --to ./copy
    """
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        if to is not None and to.exists() and any(to.iterdir()):
            raise UserError(f"--to {to}: the folder exists and is not empty")
        options = {"source": source, "revision": revision, "include": include or [],
                   "exclude": exclude or [], "endpoint": endpoint,
                   "chat_template": chat_template}
        slug = re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-")[:50] or "model"
        stage = {k: v for k, v in options.items() if v not in (None, [])}
        r, code = run_from_arguments("download", f"download-{slug}", {"download": stage},
                                     None, device, json_mode)
        out = r.workdir / "stages" / "download" / "out"
        if code == 0 and to is not None:
            shutil.copytree(out, to, copy_function=_own_copy, dirs_exist_ok=True)
    if not json_mode:
        print(f"model: {to if to is not None else out}")
    raise typer.Exit(code)
