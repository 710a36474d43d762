"""`internpipe chat` serving the tiny model for the chat with the CPU engine (`transformers
serve`, as deploy serves it) and stopping it afterwards: through a pseudo-terminal with a
recipe's persona, and with --query for scripts. The web page: test_web_chat.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, cli_env, write
from internpipe import services

pytestmark = pytest.mark.integration


def server_record(work: Path) -> dict:
    return json.loads((work / "stages/deploy/work/service.json").read_text())


def no_process_left(work: Path) -> None:
    pid = int(server_record(work)["pid"])
    assert not services.alive(pid), f"the chat left its server (pid {pid}) running"
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(work).encode() in (entry / "cmdline").read_bytes():
                left.append(entry.name)
        except OSError:
            continue
    assert not left, f"processes left that use {work}: {left}"


def test_a_recipe_chat_through_a_pty_serves_and_stops_its_model(tmp_path: Path) -> None:
    import pexpect

    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: tinychat
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
    port: auto
  agent:
    meta_prompt: You are Zhu Bajie.
    queries: ["Who are you?"]
""")
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "chat", str(r),
                                           "--max-tokens", "12"],
                          cwd=str(tmp_path), env=cli_env(), encoding="utf-8", timeout=300)
    try:
        child.expect(r"chat with tinychat:deploy \(http://127\.0\.0\.1:\d+/v1\); system "
                     r"prompt: You are Zhu Bajie\.")
        for question in ("hello", "Who are you?"):
            child.expect("you> ")
            child.sendline(question)
            child.expect("assistant> ")
        child.expect("you> ")
        child.sendline("/save talk.json")
        child.expect("saved to talk.json")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    saved = json.loads((tmp_path / "talk.json").read_text())
    assert saved["system"] == "You are Zhu Bajie." and len(saved["messages"]) == 4
    assert all(m["content"] for m in saved["messages"]), saved   # the model answered twice
    no_process_left(tmp_path / ".internpipe" / "tinychat")


def test_query_serves_a_model_folder_for_a_script(tmp_path: Path) -> None:
    result = cli("chat", str(TINY_MODEL), "-q", "hello", "-q", "Who are you?", "--json",
                 "--max-tokens", "12", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == ["hello", "Who are you?"]
    assert all(a["answer"] and a["first_token_seconds"] is not None for a in answers)
    print("first-token seconds:", [a["first_token_seconds"] for a in answers])
    assert "serving" not in result.stdout            # progress goes to stderr, answers out
    no_process_left(tmp_path / ".internpipe" / "chat")
