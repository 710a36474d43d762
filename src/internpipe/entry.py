"""The console entry point. `--version` answers here, before the CLI (typer, rich, every
command) is imported: scripts call it to check an install, and it should cost no more than
starting Python."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from internpipe import __version__

        print(f"internpipe {__version__}")
        return
    from internpipe.cli.app import main as cli_main

    cli_main()
