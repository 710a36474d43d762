"""`internpipe chat` against a test server that streams (support/fake_llm.py): the terminal
chat through a pseudo-terminal, `--query` for scripts, and what it refuses. Serving a real
model for the chat is in tests/integration/test_chat_served.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TESTS, TINY_MODEL, cli, cli_env, write
from internpipe import services


@pytest.fixture()
def fake_llm(tmp_path: Path) -> Iterator[str]:
    port = services.free_port()
    server = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_llm.py"),
                               str(port)], cwd=tmp_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the test server never answered"
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.kill()
        server.wait()


def requests_seen(tmp: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp / "requests.jsonl").read_text().splitlines()]


def test_the_terminal_chat_through_a_pty(tmp_path: Path, fake_llm: str) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "chat", fake_llm,
                                           "--model-name", "fake", "-S", "Zhu Bajie",
                                           "--temperature", "0.3"],
                          cwd=str(tmp_path), env=cli_env(), encoding="utf-8", timeout=60)
    try:
        child.expect("chat with fake")
        child.expect("you> ")
        child.sendline("who are you?")                     # the persona reaches the model
        child.expect(r"assistant> I am Zhu Bajie \(model fake\)\.")
        child.expect("you> ")
        child.sendline("slow:60")                          # Ctrl-C stops this answer only
        child.expect("w3 ")
        child.sendintr()
        child.expect(r"\(stopped\)")
        child.expect("you> ")
        child.sendline("what did I say?")                  # the history, the stopped turn too
        child.expect(r"You said: who are you\? \| slow:60")
        child.expect("you> ")
        child.sendline("/system Sun Wukong")
        child.expect(r"\(system prompt set: Sun Wukong\)")
        child.sendline("who are you?")
        child.expect(r"I am Sun Wukong \(model fake\)\.")
        child.expect("you> ")
        child.sendline("/set max_tokens 7")
        child.expect(r"\(max_tokens = 7\)")
        child.sendline("/save talk.json")
        child.expect(r"\(saved to talk.json\)")
        child.sendline("/reset")
        child.expect(r"\(conversation forgotten\)")
        child.sendline("what did I say?")
        child.expect("You said: \r\n")
        child.expect("you> ")
        child.sendintr()                                   # at the prompt: the chat goes on
        child.expect("Ctrl-D leaves")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    saved = json.loads((tmp_path / "talk.json").read_text())
    assert saved["system"] == "Sun Wukong" and saved["settings"]["max_tokens"] == 7
    assert [m["content"] for m in saved["messages"]][::2] == [
        "who are you?", "slow:60", "what did I say?", "who are you?"]
    assert saved["messages"][3]["content"].startswith("w0 w1 w2 w3")     # kept, cut short
    assert "w59" not in saved["messages"][3]["content"]
    # The server saw the connection closed mid-answer, and the settings in each request.
    assert (tmp_path / "stopped.txt").read_text().strip() == "60"
    sent = requests_seen(tmp_path)
    assert all(r["stream"] is True and r["temperature"] == 0.3 for r in sent)
    assert sent[-1]["max_tokens"] == 7 and sent[0]["messages"][0] == {
        "role": "system", "content": "Zhu Bajie"}


def test_query_answers_in_turn_for_scripts(tmp_path: Path, fake_llm: str) -> None:
    result = cli("chat", "--endpoint", fake_llm, "--model-name", "fake", "-S", "Bajie",
                 "-q", "who are you?", "-q", "what did I say?", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["query"], x["answer"]) for x in lines] == [
        ("who are you?", "I am Bajie (model fake)."), ("what did I say?",
                                                     "You said: who are you?")]
    assert all(0 <= x["first_token_seconds"] <= x["seconds"] for x in lines)
    plain = subprocess.run([sys.executable, "-m", "internpipe", "chat", fake_llm,
                            "--model-name", "fake"], input="hello\n\nwho are you?\n",
                           capture_output=True, text=True, env=cli_env(), cwd=tmp_path,
                           timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "Hello, I am a test model.\nI am a test model (model fake).\n"


@pytest.mark.parametrize(("args", "message"), [
    ([], "needs a TARGET"),
    (["nowhere/"], "nowhere/: not a recipe (.yaml), a model folder"),
    (["missing.yaml"], "missing.yaml: no such recipe file"),
    (["http://127.0.0.1:9/v1"], "needs --model-name"),
    ([str(TINY_MODEL), "--json"], "--json is for --query"),
    ([str(TINY_MODEL), "--compare", str(TINY_MODEL)], "add --web"),
    ([str(TINY_MODEL), "--temperature", "3"], "less than or equal to 2"),
    (["r.yaml:agent"], "stage 'agent' (agent) makes no model"),
    (["r.yaml:nope"], "no stage 'nope'"),
    ([str(TINY_MODEL), "--web", "-t", "Calculater"], "--tool: "),
])
def test_bad_targets_and_options_are_usage_errors(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    write(tmp_path / "r.yaml", "version: 1\nstages:\n  agent:\n    url: http://127.0.0.1:9/v1"
                               "\n    model_name: m\n    queries: [hi]\n")
    result = cli("chat", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_page_port_is_refused_before_anything_is_served(tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = cli("chat", str(TINY_MODEL), "--web", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert not (tmp_path / ".internpipe").exists()


def test_an_unreachable_server_fails_with_the_reason(tmp_path: Path) -> None:
    port = services.free_port()
    result = cli("chat", f"http://127.0.0.1:{port}/v1", "--model-name", "m", "-q", "hi",
                 cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port}/v1/chat/completions" in result.stderr
    assert "Traceback" not in result.stderr
