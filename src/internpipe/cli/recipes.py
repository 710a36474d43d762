"""`internpipe recipes …`: the recipes that ship with internpipe (like `tune ls/cp` and
`xtuner list-cfg/copy-cfg`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from internpipe import events
from internpipe.cli.shared import JsonOpt, guard, say

app = typer.Typer(help="The recipes that ship with internpipe: list them, copy one out.",
                  no_args_is_help=True, rich_markup_mode=None,
                  epilog="Examples:\n\n"
                         "  internpipe recipes list\n\n"
                         "  internpipe recipes copy demo-cpu .")


@app.command("list")
def list_(json_mode: JsonOpt = False) -> None:
    """List the bundled recipes: name, device, what each does.

    Example:

      internpipe recipes list
    """
    from internpipe import bundled

    with guard(json_mode):
        rows = bundled.available()
    if json_mode:
        events.write({"event": "recipes", "recipes": [
            {"name": r.name, "device": r.device, "summary": r.summary} for r in rows]})
        return
    width = max((len(r.name) for r in rows), default=0)
    for r in rows:
        say((r.name.ljust(width), "bold"), f"  {r.device:<5} {r.summary}")
    say("copy one out: internpipe recipes copy NAME [DEST]")


@app.command("copy")
def copy(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A bundled recipe "
                                        "(`internpipe recipes list`).", show_default=False)],
    dest: Annotated[Path, typer.Argument(metavar="[DEST]", help="The folder to copy into.")
                    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files already there.")
                     ] = False,
    json_mode: JsonOpt = False,
) -> None:
    """Copy a bundled recipe into DEST with every file it needs: its data, its model folder,
    the script that makes its data. Nothing is overwritten without --force.

    Examples:

      internpipe recipes copy demo-cpu .

      internpipe recipes copy camp3-xtuner-assistant my-assistant/
    """
    from internpipe import bundled

    with guard(json_mode):
        written = bundled.copy(name, dest, force)
    if json_mode:
        events.write({"event": "copied", "files": [str(p) for p in written]})
        return
    for path in written:
        say(f"wrote {path}")
    say(f"next: internpipe validate {written[0]}")
