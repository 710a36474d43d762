"""The LMDeploy API key reaches the server but no command line. LMDeploy serves on CUDA only,
so its real CLI is checked for the option, and the server is a stand-in entry point that
the launcher calls exactly as it calls `lmdeploy.cli:run`, in the real lmdeploy env."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import write
from internpipe import envs
from internpipe.stages import InputRef, StageContext
from internpipe.stages.deploy.stage import Options, lmdeploy_argv

pytestmark = pytest.mark.integration

KEY = "sk-internpipe-test-4242"
STANDIN = """
import json, os, sys, time

def run():
    record = os.environ["RECORD"]
    with open(record + ".tmp", "w") as f:
        json.dump(sys.argv, f)
    os.replace(record + ".tmp", record)
    time.sleep(120)
"""


def deploy_argv(tmp_path: Path, python: Path) -> list[str]:
    model = write(tmp_path / "model" / "config.json", "{}").parent
    ctx = StageContext(name="deploy", kind="deploy",
                       options=Options(engine="lmdeploy", api_key_env="MY_LMDEPLOY_KEY"),
                       recipe_name="assistant", recipe_dir=tmp_path, work=tmp_path / "w",
                       out=tmp_path / "o",
                       inputs={"model": [InputRef("q", "model", model,
                                                  {"chat_template": "internlm2"})]},
                       device="cuda", python=python)
    return lmdeploy_argv(ctx, 23333)


def test_the_api_key_is_in_no_command_line(tmp_path: Path) -> None:
    env = envs.ensure("lmdeploy", "cpu")
    argv = deploy_argv(tmp_path, env.python)
    assert KEY not in argv and "MY_LMDEPLOY_KEY" in argv
    write(tmp_path / "standin" / "standin_cli.py", STANDIN)
    record = tmp_path / "argv.json"
    environ = {**envs.step_environ(env), "MY_LMDEPLOY_KEY": KEY, "RECORD": str(record),
               "PYTHONPATH": str(tmp_path / "standin")}
    server = subprocess.Popen([*argv[:2], "--entry", "standin_cli:run", *argv[2:]],
                              env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not record.exists():
            assert server.poll() is None, server.communicate()[0][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        seen = json.loads(record.read_text())
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        everyone = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    finally:
        server.kill()
        server.wait()
    assert seen[:4] == ["lmdeploy", "serve", "api_server", str(tmp_path / "model")]
    assert seen[-2:] == ["--api-keys", KEY]            # LMDeploy got the key…
    assert b"standin_cli:run" in cmdline and KEY.encode() not in cmdline   # …ps did not
    assert KEY not in everyone


def test_lmdeploys_own_cli_takes_the_key_through_the_launcher(tmp_path: Path) -> None:
    """The default entry point is LMDeploy's real one, and its api_server parses the
    options the launcher hands it (`--help` stops before any CUDA is needed)."""
    env = envs.ensure("lmdeploy", "cpu")
    argv = deploy_argv(tmp_path, env.python)
    result = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=300,
                            env={**envs.step_environ(env), "MY_LMDEPLOY_KEY": KEY})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--api-keys" in result.stdout and "--chat-template" in result.stdout
    missing = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                             env={k: v for k, v in envs.step_environ(env).items()
                                  if k != "MY_LMDEPLOY_KEY"})
    assert missing.returncode == 2
    assert "internpipe-error: the API key variable MY_LMDEPLOY_KEY is not set" in \
        missing.stdout
    assert os.environ.get("MY_LMDEPLOY_KEY") is None
