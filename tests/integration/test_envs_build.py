"""The real tool environments, built with uv on this machine (cpu flavour)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from conftest import cli, popen
from internpipe import envlist, envs

pytestmark = pytest.mark.integration

# The import that proves each tool works, and a version it must report.
EXPECTED = {
    "xtuner": ("xtuner", "0.2.0"),
    "opencompass": ("opencompass", "0.5.4"),
    "lmdeploy": ("lmdeploy", "0.18.0"),
    "agent": ("lagent", "0.2.4"),
    "modelscope": ("modelscope", "1.40.2"),
    "openxlab": ("openxlab", "0.1.3"),
    "hfhub": ("huggingface_hub", None),
    "transformers": ("transformers", None),
}


@pytest.fixture(scope="session")
def built() -> dict[str, tuple[envs.Env, float]]:
    out = {}
    for tool in envs.tool_table():
        t0 = time.monotonic()
        env = envs.ensure(tool, "cpu", progress=envs.print_progress)
        out[tool] = (env, time.monotonic() - t0)
    return out


@pytest.mark.parametrize("tool", list(EXPECTED))
def test_every_cpu_env_builds_and_passes_its_probe(built: dict, tool: str) -> None:
    env, seconds = built[tool]
    assert envs.quick_check(env) is None
    marker = envs.read_marker(env)
    assert marker is not None
    dist, version = EXPECTED[tool]
    assert marker["versions"][dist]
    if version:
        assert marker["versions"][dist] == version
    if "torch" in marker["versions"]:
        assert marker["versions"]["torch"].endswith("+cpu")
    print(f"{tool}: ready in {seconds:.1f}s (build {marker['build_seconds']}s), "
          f"{envlist.disk_usage(env.path) / 2**20:.0f} MB")


def test_env_cli_list_path_doctor(built: dict) -> None:
    listing = json.loads(cli("env", "list", "--json").stdout)
    tools = {r["tool"] for r in listing["envs"] if r["state"] == "ready" and r["current"]}
    assert set(EXPECTED) <= tools
    path = cli("env", "path", "xtuner", "--device", "cpu").stdout.strip()
    assert Path(path) == built["xtuner"][0].path


def _fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("INTERNPIPE_HOME", str(home))
    return home


def test_half_built_env_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_home(tmp_path, monkeypatch)
    env = envs.env_for("agent", "cpu")
    setup = popen("env", "setup", "agent", "--device", "cpu")
    site = env.path / "lib" / "python3.11" / "site-packages"
    deadline = time.monotonic() + 120
    while not (site.exists() and len(list(site.iterdir())) > 5):
        assert time.monotonic() < deadline and setup.poll() is None, "install never started"
        time.sleep(0.02)
    setup.send_signal(signal.SIGKILL)
    setup.wait()
    time.sleep(0.5)
    assert envs.quick_check(env) is not None        # not marked done
    again = cli("env", "setup", "agent", "--device", "cpu", "--json")
    assert again.returncode == 0, again.stderr
    assert any("half-built" in json.loads(line).get("message", "")
               for line in again.stdout.splitlines())
    assert envs.quick_check(env) is None


def test_tampered_env_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_home(tmp_path, monkeypatch)
    env = envs.ensure("hfhub", "cpu")
    site = env.path / "lib" / "python3.11" / "site-packages"
    # 1. a package removed behind our back: the cheap check on use notices
    shutil.rmtree(next(site.glob("huggingface_hub-*.dist-info")))
    assert "differ" in str(envs.quick_check(env))
    envs.ensure("hfhub", "cpu")
    assert envs.quick_check(env) is None
    # 2. a module replaced by a broken one: the health check notices; doctor says so, setup
    # rebuilds. (Unlink first: the installed file is a hard link into uv's cache, and writing
    # through it would corrupt the cache itself.)
    module = site / "huggingface_hub" / "__init__.py"
    module.unlink()
    module.write_text("raise ImportError('tampered')\n")
    doctor = cli("env", "doctor", "--device", "cpu", "--json")
    assert doctor.returncode == 1
    row = next(r for r in json.loads(doctor.stdout)["envs"] if r["tool"] == "hfhub")
    assert row["state"].startswith("broken")
    setup = cli("env", "setup", "hfhub", "--device", "cpu")
    assert setup.returncode == 0, setup.stderr
    assert envs.probe(env)["huggingface_hub"]


def test_two_processes_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_home(tmp_path, monkeypatch)
    runs = [popen("env", "setup", "modelscope", "--device", "cpu", "--json") for _ in range(2)]
    outputs = [r.communicate(timeout=300)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0]
    messages = [json.loads(line) for out in outputs for line in out.splitlines()]
    builds = [m for m in messages if "building environment" in m.get("message", "")]
    assert len(builds) == 1, messages
    paths = {m["path"] for m in messages if m["event"] == "env_ready"}
    assert len(paths) == 1


def test_a_terminal_shows_the_env_build_as_a_bar(tmp_path: Path) -> None:
    """The first run in a fresh home builds the stage's env: the live view shows a bar of
    packages installed of the pinned total, and the stage's row says what it waits for."""
    from support.screen import record

    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: fresh\ndevice: cpu\nstages:\n"
                      "  in: {uses: in_env}\n")
    home = tmp_path / "home"
    code, chunks = record("run", str(recipe), cwd=tmp_path, INTERNPIPE_HOME=str(home))
    screen = "".join(chunks)
    assert code == 0, screen[-3000:]
    env = envs.env_for("hfhub", "cpu")
    pinned = sum(1 for line in env.spec.lock_text.splitlines()   # type: ignore[union-attr]
                 if line and not line.startswith("#"))
    assert f"waits for env {env.name}" in screen
    assert "env hfhub" in screen and f"installing {pinned} pinned packages" in screen
    assert re.search(rf"\b{pinned}/{pinned} packages .*MB installed", screen), screen[-3000:]
