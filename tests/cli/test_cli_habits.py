"""What a user of other CLIs expects: -V, -f, choices with did-you-mean naming the option,
usage errors on stdout as an `error` event with --json, `status` telling a running stage
(the run holding the lock) from an interrupted one, shell completion of stage names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli, cli_env, popen, write
from internpipe import __version__, events

SLOW = "version: 1\nname: slowpoke\nstages:\n  src: {{uses: source}}\n" \
       "  slow: {{uses: slow, seconds: {s}}}\n"


def test_version_short_and_long() -> None:
    for flag in ("-V", "--version"):
        done = cli(flag)
        assert done.returncode == 0 and done.stdout.strip() == f"internpipe {__version__}"


def test_f_is_force(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=0))
    assert cli("run", str(recipe)).returncode == 0
    again = cli("run", str(recipe), "-f", "--only", "src", "--json")
    assert again.returncode == 0, again.stderr
    finished = [json.loads(line) for line in again.stdout.splitlines()
                if '"stage_finished"' in line]
    assert [(e["stage"], e["status"]) for e in finished] == [("src", "ok"),
                                                              ("slow", "skipped")]


def test_a_choice_names_the_option_and_suggests() -> None:
    done = cli("finetune", "./m", "--data", "d.jsonl", "--method", "lorra")
    assert done.returncode == 2
    assert "'--method'" in done.stderr and "Did you mean 'lora'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_usage_error_is_an_error_event_with_json() -> None:
    done = cli("run", "r.yaml", "--json", "--device", "gpux")
    assert done.returncode == 2
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["event"] == "error" and event["exit_code"] == 2
    assert event["schema"] == events.SCHEMA_VERSION and "'--device'" in event["message"]
    bad_option = cli("plan", "r.yaml", "--json", "--frobnicate")
    assert json.loads(bad_option.stdout)["event"] == "error"


def _status(recipe: Path) -> dict:
    done = cli("status", str(recipe), "--json")
    assert done.returncode == 0, done.stderr
    return {s["stage"]: s for s in json.loads(done.stdout)["stages"]} | \
        {"": json.loads(done.stdout)}


def test_status_during_a_run_says_running_with_the_pid(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=30))
    run = popen("run", str(recipe), "--json")
    marker = tmp_path / ".internpipe/slowpoke/stages/slow/work/child.pid"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.1)
    try:
        rows = _status(recipe)
        assert rows["slow"]["state"] == "running" and rows["slow"]["pid"] == run.pid
        assert rows["src"]["state"] == "done"
        assert rows[""]["run"]["pid"] == run.pid
        shown = cli("status", str(recipe), COLUMNS="120").stdout
        assert f"running (pid {run.pid})" in shown
        assert f"a run holds the work dir: pid {run.pid}" in shown
        assert "s ago" in shown                           # relative times
    finally:
        run.kill()
        run.wait(30)
    # killed: the same marker, nobody holding the lock: interrupted, not running
    rows = _status(recipe)
    assert rows["slow"]["state"] == "interrupted" and rows[""]["run"] is None
    assert "running" not in cli("status", str(recipe)).stdout


def test_status_folds_long_paths_instead_of_cutting_them(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "x"
    recipe = write(deep / "r.yaml", SLOW.format(s=0))
    assert cli("run", str(recipe)).returncode == 0
    shown = cli("status", str(recipe), COLUMNS="80").stdout
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    out = str(deep / ".internpipe/slowpoke/stages/src/out")
    assert out in "".join(line.rsplit("│", 1)[-1].strip() for line in shown.splitlines())


@pytest.fixture
def on_path(tmp_path: Path) -> dict[str, str]:
    """`internpipe` on PATH as the shells call it (this checkout, this Python)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "internpipe"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m internpipe \"$@\"\n")
    script.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    return cli_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", HOME=str(home),
                   SHELL="/bin/bash")


def test_bash_completion_installs_and_completes_a_stage_name(
        tmp_path: Path, on_path: dict[str, str]) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=0))
    # from inside the shell, as a user would: the shell is found from the process tree
    # `; true`: the shell must stay the parent (a lone command is exec'ed in its place)
    done = subprocess.run(["bash", "-c", "internpipe --install-completion; true"],
                          env=on_path, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    home = Path(on_path["HOME"])
    assert "internpipe" in (home / ".bashrc").read_text()
    script = next(home.glob(".bash_completions/internpipe.sh"))

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        shell = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
                 "_internpipe_completion internpipe; printf '%s\\n' \"${COMPREPLY[@]}\"")
        out = subprocess.run(["bash", "-c", shell], env=on_path, capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("internpipe", "ru") == ["run"]
    assert complete("internpipe", "run", "r.yaml", "--only", "sl") == ["slow"]
    assert complete("internpipe", "run", "r.yaml", "--from", "") == ["src", "slow"]
    assert complete("internpipe", "run", "r.yaml", "--only", "src,") == ["src,slow"]
    assert complete("internpipe", "finetune", "m", "--method", "ql") == ["qlora"]
    assert str(recipe.name) in complete("internpipe", "plan", "")
    bundled = complete("internpipe", "plan", str(ROOT / "recipes") + "/demo")
    assert bundled == [str(ROOT / "recipes" / "demo-cpu.yaml"),
                       str(ROOT / "recipes" / "demo-tiny.yaml")]


def _missing(shell: str) -> None:
    if os.environ.get("INTERNPIPE_CI"):       # .ci/run installs it: a skip would hide a gap
        pytest.fail(f"{shell} is required here (INTERNPIPE_CI) but missing")
    pytest.skip(f"{shell} is not installed (bash .ci/run installs it)")


def test_fish_completion_installs_and_completes_a_stage_name(
        tmp_path: Path, on_path: dict[str, str]) -> None:
    if shutil.which("fish") is None:
        _missing("fish")
    write(tmp_path / "r.yaml", SLOW.format(s=0))
    # `; true`: the shell must stay the parent (a lone command is exec'ed in its place)
    done = subprocess.run(["fish", "-c", "internpipe --install-completion; true"],
                          env=on_path, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (Path(on_path["HOME"]) / ".config/fish/completions/internpipe.fish").is_file()
    # a new fish loads the installed file by itself; `complete -C` asks it as Tab would
    out = subprocess.run(["fish", "-c", "complete -C 'internpipe run r.yaml --only sl'"],
                         env=on_path, capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert [line.split("\t")[0] for line in out.stdout.splitlines()] == ["slow"], out


def test_zsh_completion_installs_and_answers_for_a_stage_name(
        tmp_path: Path, on_path: dict[str, str]) -> None:
    if shutil.which("zsh") is None:
        _missing("zsh")
    write(tmp_path / "r.yaml", SLOW.format(s=0))
    # `; true`: the shell must stay the parent (a lone command is exec'ed in its place)
    done = subprocess.run(["zsh", "-c", "internpipe --install-completion; true"],
                          env=on_path, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    home = Path(on_path["HOME"])
    script = (home / ".zfunc" / "_internpipe").read_text()
    assert "compdef _internpipe_completion internpipe" in script
    assert "fpath+=~/.zfunc" in (home / ".zshrc").read_text()
    # zsh's widget cannot run without a terminal: ask the program what the script asks it
    env = {**on_path, "_INTERNPIPE_COMPLETE": "complete_zsh",
           "_TYPER_COMPLETE_ARGS": "internpipe run r.yaml --only sl"}
    out = subprocess.run(["internpipe"], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert "slow" in out.stdout, out
