"""`internpipe run` end to end through the real CLI, on the test-only stage kinds."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import cli, popen, write
from support.chain import CHAIN


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    write(tmp_path / "input.txt", "DATA")
    return write(tmp_path / "r.yaml", CHAIN)


def out_text(recipe: Path, stage: str) -> str:
    return (recipe.parent / ".internpipe" / "chain" / "stages" / stage / "out" /
            "data.txt").read_text()


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def finished(evts: list[dict]) -> dict[str, str]:
    return {e["stage"]: e["status"] for e in evts if e["event"] == "stage_finished"}


def test_run_then_rerun_is_a_noop(chain: Path) -> None:
    first = cli("run", str(chain), "--json")
    assert first.returncode == 0, first.stderr
    assert finished(events(first.stdout)) == {"src": "ok", "up": "ok", "up2": "ok"}
    assert out_text(chain, "up2") == "helloDATA!?"
    out = chain.parent / ".internpipe/chain/stages/src/out"
    assert json.loads((out / "manifest.json").read_text())["files"][0]["path"] == "data.txt"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["stage"] == "src" and prov["options"]["text"] == "hello"

    mtime = (out / "data.txt").stat().st_mtime_ns
    again = cli("run", str(chain), "--json")
    assert again.returncode == 0
    assert finished(events(again.stdout)) == {"src": "cached", "up": "cached", "up2": "cached"}
    assert (out / "data.txt").stat().st_mtime_ns == mtime


def test_json_mode_prints_only_json(chain: Path) -> None:
    result = cli("run", str(chain), "--json")
    kinds = [e["event"] for e in events(result.stdout)]
    assert kinds[0] == "plan" and kinds[-1] == "run_finished"
    assert {"stage_started", "step_started", "stage_finished"} <= set(kinds)


def test_option_change_reruns_that_stage_and_what_follows(chain: Path) -> None:
    assert cli("run", str(chain)).returncode == 0
    result = cli("run", str(chain), "--json", "--set", "stages.up.suffix=#")
    assert finished(events(result.stdout)) == {"src": "cached", "up": "ok", "up2": "ok"}
    assert out_text(chain, "up2") == "helloDATA#?"
    plan = cli("plan", str(chain), "--json")
    reasons = {s["stage"]: s["reasons"] for s in json.loads(plan.stdout)["stages"]}
    assert reasons["up"] == ["options changed: suffix"]
    assert reasons["up2"] == ["input changed: model"]


def test_input_file_change_reruns(chain: Path) -> None:
    assert cli("run", str(chain)).returncode == 0
    write(chain.parent / "input.txt", "NEW")
    result = cli("run", str(chain), "--json")
    assert finished(events(result.stdout)) == {"src": "ok", "up": "ok", "up2": "ok"}
    assert out_text(chain, "up2") == "helloNEW!?"


def test_from_until_only(chain: Path) -> None:
    result = cli("run", str(chain), "--json", "--until", "up")
    assert finished(events(result.stdout)) == {"src": "ok", "up": "ok", "up2": "skipped"}
    result = cli("run", str(chain), "--json", "--only", "src", "--force")
    assert finished(events(result.stdout))["src"] == "ok"
    bad = cli("run", str(chain), "--from", "nope")
    assert bad.returncode == 2 and "no such stage" in bad.stderr


def test_failing_stage(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: chain\nstages:\n  src:\n"
                   "    uses: source\n  broken:\n    uses: fail\n    code: 7\n")
    result = cli("run", str(recipe))
    assert result.returncode == 1
    assert "step 'fail' exited with code 7" in result.stderr
    assert "about to fail" in result.stderr          # last lines of the log
    assert "Traceback" not in result.stderr
    stage = tmp_path / ".internpipe/chain/stages/broken"
    assert not (stage / "out").exists() and not (stage / ".out.tmp").exists()
    state = json.loads((tmp_path / ".internpipe/chain/state.json").read_text())
    assert set(state["stages"]) == {"src"}
    plan = json.loads(cli("plan", str(recipe), "--json").stdout)
    assert plan["stages"][1]["reasons"][0].startswith("failed last time")


def test_exit_zero_is_not_success(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", "version: 1\nstages:\n  liar:\n    uses: liar\n")
    result = cli("run", str(recipe))
    assert result.returncode == 1
    assert "data.txt was not written" in result.stderr


def test_bad_recipe_path_and_usage(tmp_path: Path) -> None:
    missing = cli("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such recipe file" in missing.stderr
    usage = cli("run")
    assert usage.returncode == 2
    assert "Traceback" not in missing.stderr + usage.stderr


SLOW = "version: 1\nname: chain\nstages:\n  slow:\n    uses: slow\n    seconds: {s}\n"


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_two_concurrent_runs(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=3))
    first = popen("run", str(recipe), "--json")
    _wait_for(tmp_path / ".internpipe/chain/stages/slow/work/child.pid")
    second = cli("run", str(recipe))
    assert second.returncode == 2
    assert "is busy" in second.stderr and f"pid {first.pid}" in second.stderr
    waited = cli("run", str(recipe), "--wait", "--json")
    assert first.wait(60) == 0
    assert waited.returncode == 0
    assert finished(events(waited.stdout)) == {"slow": "cached"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_stage_then_clean_rerun(tmp_path: Path, sig: int) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=60))
    stage = tmp_path / ".internpipe/chain/stages/slow"
    run = popen("run", str(recipe), "--json")
    _wait_for(stage / "work" / "child.pid")
    child = int((stage / "work" / "child.pid").read_text())
    run.send_signal(sig)
    assert run.wait(30) == 130
    out, _ = run.communicate()
    assert finished(events(out)) == {"slow": "interrupted"}
    assert not (stage / "out").exists() and not (stage / ".out.tmp").exists()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the stage's child process outlived Ctrl-C"
    plan = json.loads(cli("plan", str(recipe), "--json").stdout)
    assert "interrupted last time" in plan["stages"][0]["reasons"]

    rerun = cli("run", str(recipe), "--json", "--set", "stages.slow.seconds=0.1")
    assert rerun.returncode == 0
    assert (stage / "out" / "data.txt").read_text() == "slow done"
    assert not (stage / "RUNNING").exists()


def test_sigkill_mid_stage_then_clean_rerun(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SLOW.format(s=60))
    stage = tmp_path / ".internpipe/chain/stages/slow"
    run = popen("run", str(recipe), "--json")
    _wait_for(stage / "work" / "child.pid")
    child = int((stage / "work" / "child.pid").read_text())
    run.kill()
    run.wait(10)
    assert (stage / ".out.tmp" / "partial.txt").exists()   # half-built, not published
    assert not (stage / "out").exists()
    rerun = cli("run", str(recipe), "--json", "--set", "stages.slow.seconds=0.1")
    assert rerun.returncode == 0, rerun.stderr
    assert (stage / "out" / "data.txt").read_text() == "slow done"
    assert not _alive(child), "a process of the killed run survived the re-run"
    status = json.loads(cli("status", str(recipe), "--json", "--set",
                            "stages.slow.seconds=0.1").stdout)
    assert status["stages"][0]["state"] == "done"


def test_a_forced_rerun_that_makes_another_output_makes_what_follows_stale(
        tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: chain\nstages:\n  src:\n"
                   "    uses: source\n    stamp: true\n  up:\n    uses: transform\n")
    assert cli("run", str(recipe)).returncode == 0
    first = out_text(recipe, "up")
    assert finished(events(cli("run", str(recipe), "--json").stdout)) == \
        {"src": "cached", "up": "cached"}
    forced = cli("run", str(recipe), "--json", "--only", "src", "--force")
    assert finished(events(forced.stdout)) == {"src": "ok", "up": "skipped"}
    plan = json.loads(cli("plan", str(recipe), "--json").stdout)
    up = next(s for s in plan["stages"] if s["stage"] == "up")
    assert up["action"] == "run" and up["status"] == "stale", up
    assert up["reasons"] == ["input src was made again since (another output than it read)"]
    again = cli("run", str(recipe), "--json")
    assert finished(events(again.stdout)) == {"src": "cached", "up": "ok"}
    assert out_text(recipe, "up") != first
    assert finished(events(cli("run", str(recipe), "--json").stdout)) == \
        {"src": "cached", "up": "cached"}
