"""When the machine refuses a write: a work dir or INTERNPIPE_HOME that cannot be created, a
full disk (a file size limit: the writes fail as on a full disk), a report folder that
cannot be made. Exit 2 with what and where, never a traceback; and after a full disk, a run
with room finishes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from conftest import TINY_MODEL, cli, cli_env, write


def nowhere(tmp: Path) -> Path:
    """A path under which nothing can be created, even by root: a folder without write
    permission, or for root a place in sysfs (which takes no new folders)."""
    if os.geteuid() != 0:
        locked = tmp / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        return locked / "x"
    path = Path("/sys/fs/internpipe-nowhere")
    try:
        path.mkdir()
    except OSError:
        return path
    path.rmdir()
    raise AssertionError("sysfs took a new folder: no unwritable place for root here")


def recipe(tmp: Path) -> Path:
    return write(tmp / "r.yaml", f"version: 1\nname: w\ndevice: cpu\nstages:\n"
                                 f"  download:\n    source: {TINY_MODEL}\n")


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    out = result.stderr + result.stdout
    assert result.returncode == 2, out
    assert "Traceback" not in out, out
    for word in words:
        assert word in out, (word, out)


def test_a_work_dir_that_cannot_be_created(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    (tmp_path / ".internpipe").symlink_to(nowhere(tmp_path))
    for command in ("run", "report"):
        refused(cli(command, str(r)), "cannot ", "internpipe")


def test_a_home_that_cannot_be_created(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", "version: 1\nname: h\ndevice: cpu\nstages:\n  download:\n"
                                   "    source: hf:owner/model\n")
    home = str(nowhere(tmp_path))
    refused(cli("run", str(r), INTERNPIPE_HOME=home), "cannot ", home)
    refused(cli("env", "setup", "hfhub", INTERNPIPE_HOME=home), "cannot ", home)


def test_a_report_folder_that_cannot_be_made(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    out = nowhere(tmp_path)
    refused(cli("report", str(r), "-o", str(out)), f"cannot read or write {out}")


def test_a_full_disk_is_a_message_and_a_later_run_finishes(tmp_path: Path) -> None:
    r = recipe(tmp_path)

    def small_files() -> None:     # every file this process writes stops at 1 KB
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    full = subprocess.run([sys.executable, "-m", "internpipe", "run", str(r)],
                          capture_output=True, text=True, env=cli_env(), timeout=120,
                          preexec_fn=small_files)
    refused(full, "File too large")
    again = cli("run", str(r))
    assert again.returncode == 0, again.stderr


def test_a_write_refused_mid_run_ends_the_stream_with_its_exit_code(tmp_path: Path) -> None:
    """The machine refuses a write while a stage runs (a full disk): the --json stream's
    run_finished says failed with the exit code the command exits with."""
    r = write(tmp_path / "r.yaml", "version: 1\nname: w\nstages:\n  s: {uses: disk_full}\n")
    done = cli("run", str(r), "--json")
    events = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    end = next(e for e in events if e["event"] == "run_finished")
    assert (end["status"], end["exit_code"], done.returncode) == ("failed", 2, 2), done.stdout
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    finished = next(e for e in events if e["event"] == "stage_finished")
    assert finished["status"] == "failed"           # a failure, not left "interrupted"
    status = cli("status", str(r), "--json")
    assert json.loads(status.stdout)["stages"][0]["state"] == "failed", status.stdout
