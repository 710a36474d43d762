from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import SHARED_HOME
from internpipe import devices, envlist, envs, indexes
from internpipe.errors import UserError


def test_unit_tests_never_use_the_shared_home() -> None:
    assert envs.home() != SHARED_HOME
    assert "pytest" in str(envs.home()) or "tmp" in str(envs.home())


@pytest.mark.parametrize("tool", list(envs.tool_table()))
@pytest.mark.parametrize("flavour", devices.FLAVOURS)
def test_every_tool_has_pinned_specs(tool: str, flavour: str) -> None:
    spec = envs.spec(tool, flavour)
    assert len(spec.id) == 12
    lines = [ln for ln in spec.lock_text.splitlines() if ln and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines), "lock files pin exact versions"
    if flavour == "cpu":
        assert not any(ln.startswith("nvidia-") for ln in lines), "cpu flavour has no CUDA"
        torch = [ln for ln in lines if ln.startswith("torch==")]
        assert all(ln.endswith("+cpu") for ln in torch)


def test_xtuner_cpu_excludes_torchvision_and_stubs_it() -> None:
    spec = envs.spec("xtuner", "cpu")
    assert "torchvision==" not in spec.lock_text
    assert spec.stubs == ("torchvision",)
    assert "bitsandbytes==0.45.5" in spec.lock_text
    assert "transformers==4.48.0" in spec.lock_text


def test_spec_id_follows_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = envs.spec("hfhub", "cpu")
    other = envs.EnvSpec(spec.tool, spec.flavour, spec.lock_text + "x==1\n", spec.probe,
                         spec.versions)
    assert other.id != spec.id
    assert envs.EnvSpec(spec.tool, spec.flavour, spec.lock_text, spec.probe,
                        spec.versions).id == spec.id


def test_unknown_tool_suggests() -> None:
    with pytest.raises(UserError, match="did you mean 'xtuner'"):
        envs.spec("xtunr", "cpu")


def test_env_lives_under_home_keyed_by_id() -> None:
    env = envs.env_for("hfhub", "cpu")
    assert env.path == envs.home() / "envs" / f"hfhub-cpu-{env.id}"
    assert env.python == env.path / "bin" / "python"


def test_device_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert devices.resolve_device("cpu") == "cpu"
    assert devices.resolve_device("cuda") == "cuda"
    monkeypatch.setattr(devices, "nvidia_driver", lambda: None)
    assert devices.resolve_device("auto") == "cpu"
    monkeypatch.setattr(devices, "nvidia_driver", lambda: "NVRM version: 550")
    assert devices.resolve_device("auto") == "cuda"
    with pytest.raises(UserError):
        devices.resolve_device("tpu")


def _isolate_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conf: str) -> None:
    for var in [*indexes.UV_INDEX_VARS, "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
                "PIP_NO_INDEX", "VIRTUAL_ENV", "XDG_CONFIG_HOME"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(indexes, "Path", _RootedPath(tmp_path))
    cfg = tmp_path / "pip.conf"
    cfg.write_text(conf)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(cfg))


class _RootedPath:
    """Path, with /etc/... moved under a temp dir so the machine's pip.conf is not read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *parts: str) -> Path:
        p = Path(*parts)
        return self.root / str(p).lstrip("/") if str(p).startswith("/etc") else p

    def home(self) -> Path:
        return Path.home()


def test_pip_config_is_handed_to_uv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _isolate_pip(monkeypatch, tmp_path, "[global]\nindex-url = https://mirror.example/simple\n"
                 "extra-index-url = file:///a file:///b\n[install]\nfind-links = /wheels\n")
    args, said = indexes.index_settings()
    assert args == ["--index-url", "https://mirror.example/simple",
                    "--extra-index-url", "file:///a", "--extra-index-url", "file:///b",
                    "--find-links", "/wheels", "--index-strategy", "unsafe-best-match"]
    assert "pip's configuration" in said


def test_pip_env_vars_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _isolate_pip(monkeypatch, tmp_path, "[global]\nfind-links = /a\n")
    monkeypatch.setenv("PIP_FIND_LINKS", "/b")
    assert indexes.index_settings()[0][:2] == ["--find-links", "/b"]


def test_uv_settings_pass_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _isolate_pip(monkeypatch, tmp_path, "[global]\nindex-url = https://mirror.example/simple\n")
    monkeypatch.setenv("UV_INDEX_URL", "https://uv.example/simple")
    args, said = indexes.index_settings()
    assert args == [] and "UV_INDEX_URL" in said


def test_no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _isolate_pip(monkeypatch, tmp_path, "")
    assert indexes.index_settings() == (
        [], "uv's default index (no uv or pip index settings found)")


def test_step_environ_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/leak")
    monkeypatch.setenv("VIRTUAL_ENV", "/other/venv")
    monkeypatch.setenv("KEEP_ME", "1")
    env = envs.env_for("hfhub", "cpu")
    environ = envs.step_environ(env, {"X": "1"}, offline=True)
    assert "PYTHONPATH" not in environ
    assert environ["VIRTUAL_ENV"] == str(env.path)
    assert environ["PATH"].split(os.pathsep)[0] == str(env.bin)
    assert environ["HF_HUB_OFFLINE"] == "1" and environ["X"] == "1"
    assert environ["KEEP_ME"] == "1"


def test_external_python_escape_hatch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setenv("INTERNPIPE_TOOL_XTUNER", sys.executable)
    env = envs.ensure("xtuner", "cpu")
    assert env.external and env.python == Path(sys.executable)
    env2 = envs.env_for("opencompass", "cpu", {"opencompass": "/nope/python"})
    assert env2.external and envs.quick_check(env2) is not None
    with pytest.raises(UserError, match="not executable"):
        envs.ensure("opencompass", "cpu", {"opencompass": "/nope/python"})


def _fake_built(env: envs.Env) -> None:
    site = env.path / "lib" / f"python{envs.PYTHON_VERSION}" / "site-packages"
    (site / "pkg-1.0.dist-info").mkdir(parents=True)
    env.python.parent.mkdir(parents=True)
    env.python.symlink_to(Path(os.sys.executable))
    marker = {"dists": ["pkg-1.0.dist-info"], "versions": {}}
    (env.path / envs.MARKER).write_text(json.dumps(marker))


def test_quick_check_states() -> None:
    env = envs.env_for("hfhub", "cpu")
    assert envs.quick_check(env) == "not built"
    _fake_built(env)
    assert envs.quick_check(env) is None
    (env.path / "lib" / f"python{envs.PYTHON_VERSION}" / "site-packages" / "extra-2.dist-info"
     ).mkdir()
    assert "differ" in str(envs.quick_check(env))
    (env.path / envs.MARKER).unlink()
    assert "half-built" in str(envs.quick_check(env))


def test_listing_and_removal() -> None:
    env = envs.env_for("hfhub", "cpu")
    _fake_built(env)
    old = envs.envs_root() / "hfhub-cpu-000000000000"
    old.mkdir(parents=True)
    rows = {r["id"]: r for r in envlist.installed()}
    assert rows[env.id]["state"] == "ready" and rows[env.id]["current"]
    assert rows["000000000000"]["state"] == "half-built" and not rows["000000000000"]["current"]
    envlist.remove([old])
    assert not old.exists()


def test_env_list_names_every_env_built_or_not() -> None:
    from conftest import cli

    every = [(tool, flavour) for tool in envs.tool_table() for flavour in devices.FLAVOURS]
    built = envs.env_for("hfhub", "cpu")
    _fake_built(built)
    old = envs.envs_root() / "hfhub-cpu-000000000000"       # a half-built old folder
    old.mkdir()
    result = cli("env", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["envs"]
    current = [r for r in rows if r["current"]]
    assert [(r["tool"], r["flavour"]) for r in current] == every
    for row in current:
        env = envs.env_for(row["tool"], row["flavour"])
        assert row["name"] == env.name and row["path"] == str(env.path), row
        assert row["state"] == ("ready" if env == built else "not built"), row
    assert [(r["name"], r["state"]) for r in rows if not r["current"]] == \
        [(old.name, "half-built")]
    table = cli("env", "list", COLUMNS="200").stdout
    agent = envs.env_for("agent", "cuda").id
    assert re.search(rf"agent\s+│\s+cuda\s+│\s+{agent}\s+│\s+not built", table), table
    assert re.search(r"hfhub\s+│\s+cpu\s+│\s+\w+\s+│\s+ready", table), table
    assert "half-built (old spec)" in table


def test_importing_envs_is_cheap() -> None:
    """validate and plan import envs: it must not drag in ctypes or the network stack.
    (urllib.parse is allowed: pathlib itself imports it on Python 3.11.)"""
    import subprocess
    import sys

    code = ("import sys, internpipe.envs, internpipe.proc\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('ctypes', 'http', 'ssl') or m == 'urllib.request')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []
