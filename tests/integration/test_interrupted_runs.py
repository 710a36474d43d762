"""Runs that end badly, with the real tools on the tiny model: the deploy server a selected
agent needs is started again, a forced deploy re-run replaces a detached server, a busy
port is a failure in --json, and an evaluation whose predictions file a kill cut short
resumes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, popen, write
from internpipe import services
from support.evalsets import two_model_recipe

pytestmark = pytest.mark.integration


def events(stdout: str) -> list[dict]:
    return [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]


def finished(stdout: str) -> dict[str, str]:
    return {e["stage"]: e["status"] for e in events(stdout) if e["event"] == "stage_finished"}


def entry(tmp: Path, name: str, stage: str) -> dict:
    return json.loads((tmp / ".internpipe" / name / "state.json").read_text())["stages"][stage]


def served(tmp: Path, deploy: str, extra: str = "") -> Path:
    return write(tmp / "r.yaml", f"""\
version: 1
name: srv
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
{deploy}{extra}""")


def test_only_agent_starts_the_stopped_server_again(tmp_path: Path) -> None:
    r = served(tmp_path, "    port: auto\n", """\
  agent:
    tools: [Calculator]
    max_new_tokens: 16
    queries: ["What is 3.5 * 12?"]
""")
    first = cli("run", str(r), "--json", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not services.alive(entry(tmp_path, "srv", "deploy")["artifact"]["pid"])
    again = cli("run", str(r), "--only", "agent", "--force", "--json", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert finished(again.stdout) == {"download": "skipped", "deploy": "ok", "agent": "ok"}
    plan = next(e for e in events(again.stdout) if e["event"] == "plan")
    assert plan["stages"][1]["reasons"][0] == "not serving; needed by agent (started for it)"
    pid = entry(tmp_path, "srv", "deploy")["artifact"]["pid"]
    assert not services.alive(pid), "the server started for the agent outlived the run"
    record = json.loads(next((tmp_path / ".internpipe/srv/stages/agent/work/transcripts")
                             .glob("*.json")).read_text())
    assert record["status"] == "ok" and record["model_calls"] >= 1


def test_a_forced_deploy_rerun_replaces_the_detached_server(tmp_path: Path) -> None:
    port = services.free_port()
    r = served(tmp_path, f"    port: {port}\n")
    up = cli("deploy", str(r), "--detach", "--json", timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    detached = json.loads(up.stdout.splitlines()[-1])["pid"]
    rerun_pid = 0
    try:
        assert services.alive(detached)
        again = cli("run", str(r), "--only", "deploy", "--force", "--json", timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        rerun_pid = entry(tmp_path, "srv", "deploy")["artifact"]["pid"]
        assert rerun_pid != detached
        assert not services.alive(detached), "the forced re-run orphaned the detached server"
        assert not services.alive(rerun_pid)          # not kept: stopped when the run ended
    finally:
        for pid in (detached, rerun_pid):
            if pid:
                services.stop(pid)


def test_a_busy_port_is_a_failed_run_in_json(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = served(tmp_path, f"    port: {port}\n")
        result = cli("run", str(r), "--json", timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    evts = events(result.stdout)
    deploy = next(e for e in evts if e["event"] == "stage_finished" and e["stage"] == "deploy")
    assert deploy["status"] == "failed" and f"port {port}" in deploy["reason"]
    done = next(e for e in evts if e["event"] == "run_finished")
    assert (done["status"], done["exit_code"]) == ("failed", 2)
    stage = tmp_path / ".internpipe/srv/stages/deploy"
    assert not (stage / "RUNNING").exists() and "in use" in (stage / "FAILED").read_text()
    status = json.loads(cli("status", str(r), "--json").stdout)
    assert status["stages"][1]["state"] == "failed"


def _whole(found: Iterator[Path]) -> bytes:
    """The file's bytes once it is complete JSON (OpenCompass writes it in place)."""
    for path in found:
        data = path.read_bytes()
        try:
            json.loads(data)
        except ValueError:
            return b""
        return data
    return b""


def test_a_predictions_file_cut_short_by_a_kill_is_dropped_and_redone(tmp_path: Path) -> None:
    r = two_model_recipe(tmp_path, "cut")
    outputs = tmp_path / ".internpipe/cut/stages/evaluate/work/outputs"
    run = popen("run", str(r), "--json")
    deadline = time.monotonic() + 300
    while not (whole := _whole(outputs.glob("*/*/predictions/download/qa.json"))):
        assert run.poll() is None and time.monotonic() < deadline, \
            run.stderr.read() if run.stderr else ""
        time.sleep(0.2)
    run.kill()                            # SIGKILL, then cut the file as a kill mid-write does
    run.wait(timeout=60)
    predictions = next(outputs.glob("*/*/predictions/download/qa.json"))
    predictions.write_bytes(whole[: len(whole) // 2])
    plan = json.loads(cli("plan", str(r), "--json").stdout)
    steps = plan["stages"][2]["commands"]
    assert [s["step"] for s in steps] == ["drop-broken", "evaluate"], steps
    assert steps[0]["argv"][-1] == str(predictions)
    assert steps[1]["argv"][-2:] == ["-r", "latest"]
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / ".internpipe/cut/stages/evaluate/log.txt").read_text()
    assert "dropped an output cut short by an interrupted run" in log
    out = tmp_path / ".internpipe/cut/stages/evaluate/out"
    assert len(json.loads((out / "predictions/download/qa.json").read_text())) == \
        len(json.loads(whole))
