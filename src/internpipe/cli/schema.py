from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def command(
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="Write to this file instead of stdout.",
                                                show_default=False)] = None,
    events: Annotated[bool, typer.Option("--events", help="The schema of the `--json` event "
                                         "stream instead (one event a line).")] = False,
) -> None:
    """Print the JSON Schema of a recipe (for editors: yaml-language-server), or with
    --events that of the `--json` event stream.

    Examples:

      internpipe schema -o recipe.schema.json

      internpipe schema --events -o events.schema.json
    """
    if events:
        from internpipe.events import schema

        text = json.dumps(schema(), indent=2)
    else:
        from internpipe.recipe import json_schema

        text = json.dumps(json_schema(), indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
