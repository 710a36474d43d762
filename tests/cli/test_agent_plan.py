"""The agent stage's checks and plan, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, write
from internpipe.stages.agent.stage import chat_url


def recipe(tmp: Path, body: str) -> Path:
    return write(tmp / "r.yaml", "version: 1\nname: ag\nstages:\n  agent:\n"
                                 "    url: http://127.0.0.1:9/v1\n    model_name: m\n" + body)


def test_tools_are_names_or_server_urls(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    tools: [Calculator, 'rm -rf', ftp://x]\n    queries: [hi]\n")
    result = cli("validate", str(r))
    assert result.returncode == 2 and "r.yaml:7" in result.stderr, result.stderr
    assert "'rm -rf' is neither a tool name nor" in result.stderr


def test_no_queries_points_to_the_chat(tmp_path: Path) -> None:
    result = cli("plan", str(recipe(tmp_path, "    tools: [Calculator]\n")))
    assert result.returncode == 2 and "internpipe agent chat" in result.stderr


def test_url_needs_a_model_name(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", "version: 1\nstages:\n  agent:\n    url: http://h:1\n"
                                   "    queries: [hi]\n")
    result = cli("plan", str(r))
    assert result.returncode == 2 and "needs `model_name:`" in result.stderr


def test_plan_names_the_code_tools_and_their_timeout(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    tools: [PythonInterpreter, 'http://127.0.0.1:8/']\n"
                         "    tool_timeout: 7\n    queries: [hi, {text: yo, expect: [x]}]\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stderr
    stage = json.loads(result.stdout)["stages"][0]
    assert "2 queries, internlm2 agent" in stage["reasons"]
    assert any("PythonInterpreter run model-written code (timeout 7s" in x
               for x in stage["reasons"])
    argv = stage["commands"][0]["argv"]
    assert argv[1].endswith("workers/agent_run.py") and argv[2] == "run"


def test_chat_url_forms() -> None:
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/completions") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_planning_writes_nothing(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    tools: [PythonInterpreter]\n    queries: [hi]\n")
    assert cli("plan", str(r)).returncode == 0
    assert not (tmp_path / ".internpipe").exists()
