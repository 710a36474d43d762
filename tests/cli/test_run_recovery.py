"""Runs that end badly, through the real command line with test-only kinds: a kill while a
stage's output is published, a refusal at run time, a service stage's server restarted for
a stage that needs it or replaced by a forced re-run, logs on disk as they come, and a
damaged state file."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import cli, popen, write
from internpipe import services
from internpipe.fingerprint import digest
from support.chain import CHAIN

KILL_PLUGINS = "support.teststages,support.killpoints"


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def finished(evts: list[dict]) -> dict[str, str]:
    return {e["stage"]: e["status"] for e in evts if e["event"] == "stage_finished"}


def wd(recipe: Path) -> Path:
    return recipe.parent / ".internpipe" / "chain"


def entries(recipe: Path) -> dict[str, dict]:
    return json.loads((wd(recipe) / "state.json").read_text())["stages"]


def assert_outputs_recorded(recipe: Path) -> None:
    """Every published out/ is the output its state entry describes."""
    for stage, entry in entries(recipe).items():
        files = json.loads((wd(recipe) / "stages" / stage / "out" / "manifest.json").read_text())
        assert digest(files) == entry["artifact"]["fingerprint"], stage


# ------------------------------------------------------- the publish → state-entry window


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    write(tmp_path / "input.txt", "DATA")
    return write(tmp_path / "r.yaml", CHAIN)


def _killed(recipe: Path, point: str, *args: str) -> None:
    result = cli("run", str(recipe), *args, INTERNPIPE_PLUGINS=KILL_PLUGINS,
                 INTERNPIPE_TEST_KILL_AT=f"{point}:src")
    assert result.returncode == -signal.SIGKILL, result.stderr


def test_a_kill_after_publishing_is_completed_by_the_next_run(chain: Path) -> None:
    assert cli("run", str(chain)).returncode == 0
    _killed(chain, "after_publish", "--set", "stages.src.text=world")
    src = wd(chain) / "stages" / "src"
    assert (src / "out" / "data.txt").read_text().startswith("world")  # published…
    assert (src / "RUNNING").exists()                                   # …not recorded
    # The recipe says `hello` again: out/ holds `world`, so src must run, not be cached.
    plan = json.loads(cli("plan", str(chain), "--json").stdout)
    assert plan["stages"][0]["action"] == "run", plan["stages"][0]
    assert "options changed: text" in plan["stages"][0]["reasons"]
    rerun = cli("run", str(chain), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert finished(events(rerun.stdout))["src"] == "ok"
    assert (src / "out" / "data.txt").read_text() == "helloDATA"
    assert_outputs_recorded(chain)
    assert not (src / "RUNNING").exists()


def test_the_entry_is_written_from_the_marker(chain: Path) -> None:
    assert cli("run", str(chain)).returncode == 0
    _killed(chain, "after_publish", "--set", "stages.src.text=world")
    status = json.loads(cli("status", str(chain), "--json", "--set",
                            "stages.src.text=world").stdout)
    assert status["stages"][0]["state"] == "done"
    rerun = cli("run", str(chain), "--json", "--set", "stages.src.text=world")
    assert rerun.returncode == 0, rerun.stderr
    # src finished before the kill: its entry is completed, it does not run again.
    assert finished(events(rerun.stdout)) == {"src": "cached", "up": "ok", "up2": "ok"}
    assert entries(chain)["src"]["components"]["options"]["text"] == "world"
    assert_outputs_recorded(chain)
    assert not (wd(chain) / "stages/src/RUNNING").exists()


@pytest.mark.parametrize("point", ["before_publish", "mid_publish"])
def test_a_kill_before_the_new_output_is_in_place_keeps_the_old_one(chain: Path,
                                                                     point: str) -> None:
    assert cli("run", str(chain)).returncode == 0
    _killed(chain, point, "--set", "stages.src.text=world")
    rerun = cli("run", str(chain), "--json")
    assert rerun.returncode == 0, rerun.stderr
    # The old output (swapped aside when the kill came mid-publish) is back and still
    # recorded: nothing runs again.
    assert finished(events(rerun.stdout)) == {"src": "cached", "up": "cached", "up2": "cached"}
    src = wd(chain) / "stages" / "src"
    assert (src / "out" / "data.txt").read_text() == "helloDATA"
    assert not (src / ".out.old").exists() and not (src / ".out.tmp").exists()
    assert_outputs_recorded(chain)


def test_stages_as_a_list_in_the_state_file(chain: Path) -> None:
    state = write(wd(chain) / "state.json", '{"version": 1, "stages": []}')
    for command in ("status", "plan"):
        result = cli(command, str(chain), "--json")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    result = cli("run", str(chain), "--json")
    assert result.returncode == 0, result.stderr
    assert finished(events(result.stdout)) == {"src": "ok", "up": "ok", "up2": "ok"}
    assert set(json.loads(state.read_text())["stages"]) == {"src", "up", "up2"}


# ------------------------------------------------------------------------------ logs


def test_log_lines_reach_the_disk_as_they_come(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: chain\nstages:\n  slow:\n"
                   "    uses: slow\n    seconds: 60\n")
    log = wd(recipe) / "stages" / "slow" / "log.txt"
    run = popen("run", str(recipe), "--json")
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "started" in log.read_text().splitlines()):
            assert run.poll() is None, "the step ended before its line was seen"
            assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
            time.sleep(0.1)
        assert run.poll() is None        # the step is still sleeping: read while it runs
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(30)


# ------------------------------------------------------------- refusals and services


SERVED = """\
version: 1
name: chain
stages:
  srv:
    uses: echo_server
{srv}  cl:
    uses: client
"""


def test_a_refusal_at_run_time_is_a_failure(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        recipe = write(tmp_path / "r.yaml", SERVED.format(srv=f"    port: {port}\n"))
        result = cli("run", str(recipe), "--json")
    assert result.returncode == 2, result.stderr
    evts = events(result.stdout)
    srv = next(e for e in evts if e["event"] == "stage_finished")
    assert srv["stage"] == "srv" and srv["status"] == "failed"
    assert f"port {port} on 127.0.0.1 is in use" in srv["reason"]
    done = next(e for e in evts if e["event"] == "run_finished")
    assert done["status"] == "failed" and done["exit_code"] == 2
    assert evts[-1]["event"] == "error" and evts[-1]["exit_code"] == 2
    stage = wd(recipe) / "stages" / "srv"
    assert not (stage / "RUNNING").exists()                      # not "interrupted"
    assert f"port {port}" in (stage / "FAILED").read_text()
    status = json.loads(cli("status", str(recipe), "--json").stdout)
    assert status["stages"][0]["state"] == "failed"


def test_a_forced_rerun_replaces_a_kept_server(tmp_path: Path) -> None:
    port = services.free_port()
    recipe = write(tmp_path / "r.yaml", SERVED.format(srv=f"    port: {port}\n    keep: true\n"))
    first = cli("run", str(recipe), "--only", "srv")
    assert first.returncode == 0, first.stderr
    old = entries(recipe)["srv"]["artifact"]["pid"]
    new = 0
    try:
        assert services.alive(old)
        again = cli("run", str(recipe), "--only", "srv", "--force", "--json")
        assert again.returncode == 0, again.stderr
        new = entries(recipe)["srv"]["artifact"]["pid"]
        assert new != old and services.healthy(f"http://127.0.0.1:{port}/health")
        assert not services.alive(old), "the forced re-run left the old server running"
    finally:
        for pid in (old, new):
            if pid:
                services.stop(pid)


def test_a_needed_server_starts_though_its_stage_is_not_selected(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SERVED.format(srv=""))
    first = cli("run", str(recipe))
    assert first.returncode == 0, first.stderr
    assert not services.alive(entries(recipe)["srv"]["artifact"]["pid"])  # stopped at the end
    plan = json.loads(cli("plan", str(recipe), "--only", "cl", "--force", "--json").stdout)
    srv = plan["stages"][0]
    assert srv["action"] == "run" and srv["status"] == "not serving"
    assert srv["reasons"] == ["not serving; needed by cl (started for it)"]
    again = cli("run", str(recipe), "--only", "cl", "--force", "--json")
    assert again.returncode == 0, again.stderr
    assert finished(events(again.stdout)) == {"srv": "ok", "cl": "ok"}
    assert not services.alive(entries(recipe)["srv"]["artifact"]["pid"]), "server left behind"
    # Out of date, its old server cannot come back: the user is told to select it.
    port = services.free_port()
    stale = cli("run", str(recipe), "--only", "cl", "--force", "--set",
                f"stages.srv.port={port}")
    assert stale.returncode == 2
    assert "needs the server of 'srv', which is not serving and is out of date" in stale.stderr
    assert "--only srv,cl" in stale.stderr


def test_nothing_is_started_when_no_stage_that_runs_needs_it(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SERVED.format(srv=""))
    assert cli("run", str(recipe)).returncode == 0
    again = cli("run", str(recipe), "--json")
    assert finished(events(again.stdout)) == {"srv": "cached", "cl": "cached"}
    only = cli("run", str(recipe), "--only", "cl", "--json")   # cl is cached: srv stays down
    assert finished(events(only.stdout)) == {"srv": "skipped", "cl": "cached"}
