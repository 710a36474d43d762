from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file "
                                                "instead of stdout.", show_default=False)] = None,
) -> None:
    """Print the JSON Schema of a recipe (for editors: yaml-language-server).

    Example:

      internpipe schema -o recipe.schema.json
    """
    from internpipe.recipe import json_schema

    text = json.dumps(json_schema(), indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
