"""Run the real command line on a pseudo-terminal (the live view draws there only) and
keep what it drew: each chunk as it arrived, the terminal's control sequences removed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pexpect

from conftest import cli_env

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def record(*args: str, cwd: Path | None = None, timeout: float = 600, columns: int = 120,
           **env: str) -> tuple[int, list[str]]:
    """(exit status, the chunks of screen output in the order they were drawn)."""
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", *args], cwd=cwd,
                          env=cli_env(TERM="xterm-256color", COLUMNS=str(columns), **env),
                          dimensions=(50, columns), encoding="utf-8", timeout=timeout)
    chunks: list[str] = []
    while True:
        try:
            chunks.append(CONTROL.sub("", child.read_nonblocking(100_000, timeout=timeout)))
        except pexpect.EOF:
            break
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1), chunks
