"""Every command's --help (the COMMANDS registry walked, so commands added later are
checked too): it prints its own usage, its examples verbatim (never re-wrapped), and no
Python type names as metavars (`<list[str]>`, `<str>`, `{MODEL}`)."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from conftest import cli_env


def _commands() -> list[tuple[list[str], str]]:
    """(the words naming each command and subcommand, its help text as written)."""
    from typer.main import get_command

    from internpipe.cli import app as cli_app

    cli_app.register(list(cli_app.COMMANDS))
    found: list[tuple[list[str], str]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append((path, "\n\n".join(t for t in (command.help, command.epilog) if t)))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(get_command(cli_app.app), [])
    return found


COMMANDS = _commands()
TYPE_NAMES = re.compile(r"<[^>\s]*>|\b(?:list|dict|tuple|set)\[|NoneType|\{[A-Z_|]+\}")


def examples(text: str) -> list[str]:
    """The example command lines of a help text, a continued line (ending in \\) with the
    line after it."""
    lines = [line.replace("\b", "").strip() for line in text.splitlines()]
    out = []
    for i, line in enumerate(lines):
        if line.startswith("internpipe ") or (i and lines[i - 1].endswith("\\")):
            out.append(line)
    return out


def test_the_registry_was_walked() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"run", "deploy stop", "agent chat", "env setup"} <= paths


@pytest.mark.parametrize("path,text", COMMANDS, ids=[" ".join(p) or "internpipe"
                                                     for p, _ in COMMANDS])
def test_help(path: list[str], text: str) -> None:
    done = subprocess.run([sys.executable, "-m", "internpipe", *path, "--help"],
                          capture_output=True, text=True, env=cli_env(COLUMNS="80"),
                          timeout=60)
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    assert shown.startswith(f"Usage: {' '.join(['internpipe', *path])} "), shown[:200]
    assert not TYPE_NAMES.search(shown), TYPE_NAMES.search(shown)
    lines = {line.strip() for line in shown.splitlines()}
    wanted = examples(text)
    if path:                 # the top level's epilog has them; a group's too
        assert wanted, f"`internpipe {' '.join(path)} --help` shows no example"
    for example in wanted:
        assert example in lines, f"example re-wrapped in --help: {example!r}\n{shown}"
