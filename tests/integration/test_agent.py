"""The agent stage with the real Lagent and AgentLego: against a test server that plays a
model emitting tool calls (deterministic tool paths), against a remote agentlego-server,
once against the tiny model served by the CPU engine, and the chat REPL through a pty."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TESTS, TINY_MODEL, cli, cli_env, write
from internpipe import envs, services

pytestmark = pytest.mark.integration

PY_OK = "python:```python\\ndef solution():\\n    open('made_by_tool.txt', 'w').write('x')" \
        "\\n    return 6 * 7\\n```"
PY_LOOP = "python:```python\\ndef solution():\\n    while True:\\n        pass\\n```"


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@contextlib.contextmanager
def serving_fake_llm(cwd: Path, *args: str) -> Iterator[str]:
    port = services.free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_llm.py"),
                             str(port), *args], cwd=cwd)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture()
def fake_llm(tmp_path: Path) -> Iterator[str]:
    with serving_fake_llm(tmp_path) as url:
        yield url


def recipe(tmp: Path, url: str, body: str, name: str = "ag") -> Path:
    return write(tmp / "r.yaml", f"""\
version: 1
name: {name}
stages:
  agent:
    url: {url}
    model_name: fake
{body}""")


def transcripts(tmp: Path, name: str = "ag") -> list[dict]:
    folder = tmp / ".internpipe" / name / "stages" / "agent"
    return [json.loads(p.read_text()) for p in sorted((folder / "work" / "transcripts")
                                                      .glob("*.json"))]


def test_tool_calls_reach_the_answer_and_a_hung_tool_times_out(tmp_path: Path,
                                                                fake_llm: str) -> None:
    r = recipe(tmp_path, fake_llm, f"""\
    tools: [Calculator, PythonInterpreter]
    tool_timeout: 3
    queries:
      - {{text: "calc:3.5 * 12", expect: ["42"]}}
      - {{text: "{PY_OK}", expect: ["42"]}}
      - "{PY_LOOP}"
      - hello
""")
    t0 = time.monotonic()
    result = cli("run", str(r), "--json", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"agent stage, 4 queries on the fake model: {time.monotonic() - t0:.1f}s")
    calc, py, loop, hello = transcripts(tmp_path)
    assert calc["tool_calls"][0]["name"] == "Calculator"
    assert calc["tool_calls"][0]["args"] == {"expression": "3.5 * 12"}
    assert calc["tool_calls"][0]["result"] == "42.0" and "42" in calc["answer"]
    assert py["tool_calls"][0]["name"] == "PythonInterpreter"
    assert py["tool_calls"][0]["result"] == "42" and "42" in py["answer"]
    assert py["messages"] and py["model_calls"] == 2
    # Model-written code ran in the stage's scratch folder, not where internpipe was started.
    assert (tmp_path / ".internpipe/ag/stages/agent/work/scratch/made_by_tool.txt").exists()
    assert "FunctionTimedOut" in (loop["tool_calls"][0]["error"] or "")
    assert 3 <= loop["tool_calls"][0]["seconds"] < 10
    assert hello["tool_calls"] == [] and hello["answer"] == "Hello, I am a test model."
    out = tmp_path / ".internpipe/ag/stages/agent/out"
    assert len(json.loads((out / "transcripts.json").read_text())) == 4
    events = [json.loads(x) for x in result.stdout.splitlines()]
    art = next(e for e in events if e.get("event") == "stage_finished")["artifact"]
    assert art["queries"] == 4 and art["tool_calls"] == 3
    plain = cli("run", str(r))                          # cached: the summary is shown again
    assert "#1 ok: 'calc:3.5 * 12' [Calculator→'42.0']" in plain.stdout, plain.stdout


def test_a_malformed_tool_call_and_a_failed_expect_fail_the_stage(tmp_path: Path,
                                                                  fake_llm: str) -> None:
    r = recipe(tmp_path, fake_llm, """\
    tools: [Calculator]
    max_turns: 2
    queries:
      - malformed
      - {text: "calc:1 + 1", expect: ["99"]}
      - {text: "calc:2 + 2", expect: ["4"]}
""")
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 1, result.stderr
    err = " ".join(result.stderr.split())
    assert "2 of 3 queries failed" in err
    assert "#1 the model wrote 2 malformed tool call(s) and no final answer within max_turns" \
        in err
    assert "#2 the answer lacks '99'" in err and "transcripts:" in err
    bad, lacking, good = transcripts(tmp_path)
    assert bad["status"] == "failed" and bad["malformed_tool_calls"]
    assert lacking["missing"] == ["99"] and good["status"] == "ok"
    assert not (tmp_path / ".internpipe/ag/stages/agent/out").exists()


def _failed_run(tmp: Path, url: str, body: str) -> tuple[str, float, list[dict]]:
    """Run a recipe that must fail: (stderr, seconds, transcripts), with a bounded log."""
    t0 = time.monotonic()
    result = cli("run", str(recipe(tmp, url, body)), timeout=180)
    took = time.monotonic() - t0
    assert result.returncode == 1, result.stderr[-3000:]
    log = (tmp / ".internpipe/ag/stages/agent/log.txt").read_text()
    assert len(log.splitlines()) < 200, log[-3000:]
    return " ".join(result.stderr.split()), took, transcripts(tmp)


def test_a_dead_endpoint_fails_within_the_deadline(tmp_path: Path) -> None:
    port = services.free_port("127.0.0.1")                  # nobody listens there
    err, took, (first, *rest) = _failed_run(tmp_path, f"http://127.0.0.1:{port}/v1", """\
    request_timeout: 20
    queries: [hello, "calc:1 + 1", bye]
""")
    print(f"agent stage against a dead endpoint: {took:.1f}s")
    assert took < 60                        # lagent alone retries forever
    assert first["status"] == "failed" and first["model_seconds"] <= 21
    assert f"no answer from http://127.0.0.1:{port}/v1/chat/completions after 3 attempt(s)" \
        in first["reason"] and "Connection refused" in first["reason"]
    assert [r["reason"] for r in rest] == ["not asked: query #1 could not reach the model"] * 2
    assert "3 of 3 queries failed" in err and "Connection refused" in err


def test_a_server_dying_mid_run_fails_within_the_deadline(tmp_path: Path) -> None:
    with serving_fake_llm(tmp_path, "--die-after", "2") as url:   # calc: takes 2 requests
        err, took, (ok, dying, after) = _failed_run(tmp_path, url, """\
    tools: [Calculator]
    request_timeout: 20
    queries: [{text: "calc:1 + 1", expect: ["2"]}, "calc:2 + 2", hello]
""")
    assert took < 60
    assert ok["status"] == "ok" and dying["status"] == "failed"
    assert "the model call failed: no answer from" in dying["reason"], dying["reason"]
    assert "Connection refused" in dying["reason"], dying["reason"]
    assert after["reason"] == "not asked: query #2 could not reach the model"
    assert "2 of 3 queries failed" in err


def test_a_hung_server_fails_at_request_timeout(tmp_path: Path) -> None:
    with serving_fake_llm(tmp_path, "--hang-after", "0") as url:
        err, took, (hung,) = _failed_run(tmp_path, url, """\
    request_timeout: 4
    queries: [hello]
""")
    assert "no answer within 4s (request_timeout)" in hung["reason"], hung["reason"]
    assert 4 <= hung["model_seconds"] < 10 and took < 60
    assert "no answer within 4s" in err


def test_react_agent_and_the_standalone_command(tmp_path: Path, fake_llm: str) -> None:
    result = cli("agent", "--endpoint", fake_llm, "--model-name", "fake", "--agent", "react",
                 "-t", "Calculator", "-q", "calc:6 * 7", "--expect", "42", "--json",
                 cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = transcripts(tmp_path, "agent")[0]
    assert record["tool_calls"][0]["result"] == "42" and "42" in record["answer"]
    sent = [json.loads(x) for x in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert "Action Input" in sent[0]["messages"][0]["content"]      # ReAct's protocol


def test_a_remote_agentlego_tool_server(tmp_path: Path, fake_llm: str) -> None:
    env = envs.ensure("agent", "cpu")
    port = services.free_port("127.0.0.1")
    server = subprocess.Popen([str(env.bin / "agentlego-server"), "start", "Calculator",
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=envs.step_environ(env, offline=True),
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/openapi.json", timeout=120)
        r = recipe(tmp_path, fake_llm, f"""\
    tools: ["http://127.0.0.1:{port}"]
    queries: [{{text: "remote:17 + 25", expect: ["42"]}}]
""")
        result = cli("run", str(r), timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        record = transcripts(tmp_path)[0]
        assert record["tool_calls"][0]["name"] == "Calculator"
        assert record["tool_calls"][0]["result"].startswith("42")
        assert "42" in record["answer"]
    finally:
        services.stop(server.pid)


def test_the_tiny_model_served_on_cpu_end_to_end(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: tiny
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
    port: auto
  agent:
    tools: [Calculator]
    max_new_tokens: 24
    queries: ["What is 3.5 * 12?"]
""")
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = transcripts(tmp_path, "tiny")[0]
    # The tiny model babbles, so no tool call is expected: the plumbing is what is tested.
    assert record["status"] == "ok" and record["model_calls"] >= 1 and record["answer"]
    spec = json.loads((tmp_path / ".internpipe/tiny/stages/agent/work/spec.json").read_text())
    assert spec["chat_url"].endswith("/v1/chat/completions") and spec["model"] == str(
        tmp_path / ".internpipe/tiny/stages/download/out")
    assert spec["keep_special_tokens"] is False          # transformers serve rejects it


def test_the_chat_repl_through_a_pty(tmp_path: Path, fake_llm: str) -> None:
    import pexpect

    r = recipe(tmp_path, fake_llm, "    tools: [Calculator]\n")
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "agent", "chat", str(r)],
                          cwd=str(tmp_path), env=cli_env(), encoding="utf-8", timeout=120)
    try:
        child.expect("agent chat: internlm2 agent on fake")
        child.expect("you> ")
        child.sendline("calc:6 * 7")
        child.expect("⚙ Calculator")
        child.expect("↳ 42")
        child.expect("agent> The result is 42")
        child.expect("you> ")
        child.sendline("hello")
        child.expect("agent> Hello, I am a test model.")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
