"""A tool environment deleted while a run is under way (someone runs `env remove`, or a
disk clean-up): the stage that needs it fails with a message, exit 1, no traceback; the
next run says what is missing (exit 2) instead of crashing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import cli, write

RECIPE = """\
version: 1
name: gone
interpreters: {{hfhub: {python}}}
stages:
  first: {{uses: in_env, remove_env: true}}
  second: {{uses: in_env, model: first}}
"""


def test_an_env_deleted_mid_run_fails_the_next_stage_cleanly(tmp_path: Path) -> None:
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    os.symlink(sys.executable, python)
    recipe = write(tmp_path / "r.yaml", RECIPE.format(python=python))
    done = cli("run", str(recipe), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert not python.exists()                           # the first stage removed it
    assert "Traceback" not in done.stderr + done.stdout
    assert "stage 'second' failed" in done.stderr
    assert f"cannot start {python}" in done.stderr       # what is missing, said plainly
    assert (tmp_path / ".internpipe/gone/stages/first/out/data.txt").exists()
    again = cli("run", str(recipe), cwd=tmp_path)
    assert again.returncode == 2, again.stderr
    assert "Traceback" not in again.stderr + again.stdout
    assert str(python) in again.stderr and "not executable" in again.stderr
