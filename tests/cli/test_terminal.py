"""On a terminal, `run` shows a live view; NO_COLOR turns the colours off."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pexpect

from conftest import cli_env, write

RECIPE = """version: 1
name: tty
stages:
  src:
    uses: source
  slow:
    uses: slow
    seconds: 2
"""


def run_in_pty(recipe: Path, **env: str) -> str:
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "run", str(recipe)],
                          env=cli_env(TERM="xterm-256color", COLUMNS="100", **env),
                          dimensions=(30, 100), encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def test_live_view_on_a_terminal(tmp_path: Path) -> None:
    screen = run_in_pty(write(tmp_path / "r.yaml", RECIPE))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "✔" in text and "src" in text and "slow" in text
    assert "\x1b[" in screen                       # a live, coloured display


def test_no_color(tmp_path: Path) -> None:
    screen = run_in_pty(write(tmp_path / "r.yaml", RECIPE), NO_COLOR="1")
    # NO_COLOR forbids colour, not emphasis: bold and dim may stay, colour codes may not.
    params = [p for seq in re.findall(r"\x1b\[([0-9;]*)m", screen) for p in seq.split(";")]
    colours = [p for p in params if p and (30 <= int(p) <= 49 or 90 <= int(p) <= 107)]
    assert not colours, colours[:5]
    assert "✔" in screen
    coloured = run_in_pty(write(tmp_path / "r2.yaml", RECIPE.replace("tty", "tty2")))
    assert re.search(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*38;", coloured)
