"""What the cheap commands import: `validate` and `plan` no networking (http.client, ssl,
urllib.request), no ctypes and no env-building code; `--version` not even the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, cli_env

HEAVY = ("http.client", "ssl", "ctypes", "urllib.request", "internpipe.envbuild")


def imported(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "internpipe", *args],
                          capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {m.group(1) for m in re.finditer(r"\|\s+(\S+)\s*$", done.stderr, re.M)}


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_import_no_networking_ctypes_or_env_building(
        command: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns(".internpipe"))
    modules = imported(command, "recipes/demo-cpu.yaml", cwd=tmp_path)
    assert "internpipe.recipe" in modules          # the measurement saw our imports
    assert not set(HEAVY) & modules


def test_version_does_not_import_the_cli(tmp_path: Path) -> None:
    modules = imported("--version", cwd=tmp_path)
    assert "internpipe" in modules
    assert not {"typer", "rich", "pydantic", "internpipe.cli"} & modules
