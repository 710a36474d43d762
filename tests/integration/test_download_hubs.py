"""The download stage through the real hub clients, in their own environments, against a
local server that serves the tiny model the way ModelScope does."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from support.fake_modelscope import FakeModelScope

pytestmark = pytest.mark.integration
REPO = "Shanghai_AI_Laboratory/tiny"


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-v2"
    shutil.copytree(TINY_MODEL, folder)
    (folder / "README.md").write_text("revision v2\n")
    return folder


@pytest.fixture
def hub(v2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms-cache"))
    with FakeModelScope({REPO: {"master": TINY_MODEL, "v2": v2}}) as server:
        yield server


@pytest.fixture(autouse=True)
def _own_model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared tool envs, but a model cache of this test's own.
    monkeypatch.setenv("INTERNPIPE_MODEL_CACHE", str(tmp_path / "models"))


def recipe(dir: Path, endpoint: str, extra: str = "", name: str = "hubdl") -> Path:
    return write(dir / f"{name}.yaml", f"version: 1\nname: {name}\nstages:\n  download:\n"
                 f"    source: modelscope:{REPO}\n    endpoint: {endpoint}\n{extra}")


def out_dir(r: Path, name: str = "hubdl") -> Path:
    return r.parent / ".internpipe" / name / "stages" / "download" / "out"


def test_full_download_then_cached(hub: FakeModelScope, tmp_path: Path) -> None:
    r = recipe(tmp_path, hub.url)
    result = cli("run", str(r), "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    out = out_dir(r)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (out / name).read_bytes() == (TINY_MODEL / name).read_bytes()
    assert not any(p.name.startswith(".") for p in out.iterdir())
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["source"] == f"modelscope:{REPO}" and prov["chat_template"] == "internlm2"
    assert prov["tool_versions"]["modelscope"] == "1.40.2"

    served = dict(hub.served)
    t0 = time.monotonic()
    again = cli("run", str(r), "--json")
    assert time.monotonic() - t0 < 3
    assert [json.loads(x) for x in again.stdout.splitlines()][-2]["status"] == "cached"
    assert hub.served == served, "a cached run touched the hub"

    # A second recipe naming the same model shares the machine's model cache.
    other = recipe(tmp_path / "other", hub.url, name="other")
    assert cli("run", str(other), timeout=300).returncode == 0
    assert hub.served.get("model.safetensors") == served["model.safetensors"]


def test_include_exclude(hub: FakeModelScope, tmp_path: Path) -> None:
    r = recipe(tmp_path, hub.url, "    include: ['*.json', '*.safetensors']\n"
                                  "    exclude: ['generation_config.json']\n")
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out_dir(r).iterdir()}
    assert "model.safetensors" in names and "tokenizer.json" in names
    assert "generation_config.json" not in names
    assert "generation_config.json" not in hub.served


def test_connection_dropped_midway_is_resumed(hub: FakeModelScope, tmp_path: Path) -> None:
    hub.drop_once.add("model.safetensors")
    r = recipe(tmp_path, hub.url)
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 0, result.stderr
    assert hub.served["model.safetensors"] == 2
    assert (out_dir(r) / "model.safetensors").read_bytes() == \
        (TINY_MODEL / "model.safetensors").read_bytes()
    print("range requests after the drop:", hub.ranges)


def test_corrupted_file_fails_and_publishes_nothing(hub: FakeModelScope, tmp_path: Path) -> None:
    hub.corrupt.add("model.safetensors")
    r = recipe(tmp_path, hub.url)
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "model.safetensors" in result.stderr
    assert any(w in result.stderr.lower() for w in ("sha256", "integrity", "hash"))
    assert not out_dir(r).exists()


def test_revision(hub: FakeModelScope, tmp_path: Path) -> None:
    r = recipe(tmp_path, hub.url, "    revision: v2\n")
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out_dir(r) / "README.md").read_text() == "revision v2\n"
    assert any("Revision=v2" in q for q in hub.requests)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("hub_name", ["modelscope", "hf", "openxlab"])
def test_unreachable_hub_fails_fast_and_says_what_to_do(tmp_path: Path, hub_name: str) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    r = write(tmp_path / "r.yaml", "version: 1\nname: down\nstages:\n  download:\n"
              f"    source: {hub_name}:Owner/model\n    endpoint: {endpoint}\n")
    t0 = time.monotonic()
    result = cli("run", str(r), timeout=300)
    took = time.monotonic() - t0
    assert result.returncode == 1
    assert f"cannot reach {hub_name} at {endpoint}" in result.stderr
    assert "mirror" in result.stderr and "local folder" in result.stderr
    assert took < 20, f"took {took:.1f}s"
    assert "Traceback" not in result.stderr.split("last lines of the log")[0]


def test_standalone_download_from_the_hub(hub: FakeModelScope, tmp_path: Path) -> None:
    result = cli("download", f"modelscope:{REPO}", "--endpoint", hub.url, "--to", "base",
                 "--revision", "v2", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "base" / "README.md").read_text() == "revision v2\n"
    assert (tmp_path / "base" / "model.safetensors").stat().st_size == \
        (TINY_MODEL / "model.safetensors").stat().st_size


def test_tokens_never_reach_our_files(hub: FakeModelScope, tmp_path: Path) -> None:
    secret = "ms-token-do-not-leak-4242"
    r = recipe(tmp_path, hub.url)
    result = cli("run", str(r), "--json", timeout=300, MODELSCOPE_API_TOKEN=secret,
                 HF_TOKEN=secret)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    for path in (tmp_path / ".internpipe").rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000:
            assert secret.encode() not in path.read_bytes(), path


def test_a_terminal_shows_the_bytes_of_a_file_while_it_is_written(
        hub: FakeModelScope, tmp_path: Path) -> None:
    """The hub client draws no bar into a pipe; the worker watches the download folder, so
    the live view's bar advances while model.safetensors (2.4 MB of 2.5) is being written."""
    from support.screen import record

    hub.bytes_per_second = 400_000
    r = recipe(tmp_path, hub.url)
    code, chunks = record("run", str(r), cwd=tmp_path)
    screen = "".join(chunks)
    assert code == 0, screen[-3000:]
    total = sum(f.stat().st_size for f in TINY_MODEL.iterdir())
    unit = {"B": 1, "kB": 1e3, "MB": 1e6}
    seen = [float(n) * unit[u] for n, u in
            re.findall(r"(\d+(?:\.\d)?) (B|kB|MB)/2\.5 MB", screen)]
    big = (TINY_MODEL / "model.safetensors").stat().st_size
    # fewer bytes than the big file alone: it was still being written when drawn
    partial = sorted({s for s in seen if 0 < s < big - 100_000})
    assert len(partial) >= 3, (partial, screen[-2000:])
    assert seen == sorted(seen), "the bytes went backwards"
    assert "kB/s" in screen or "MB/s" in screen                   # a rate
    assert f"{total / 1e6:.1f} MB" == "2.5 MB"
