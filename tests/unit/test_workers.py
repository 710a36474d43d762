"""The worker scripts (stdlib only, run inside tool environments), tested as plain code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

WORKERS = Path(__file__).resolve().parents[2] / "src" / "internpipe" / "workers"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, WORKERS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verify_catches_short_and_missing_files(tmp_path: Path) -> None:
    hub = load("hub_download")
    (tmp_path / "a.bin").write_bytes(b"12345")
    (tmp_path / "b.bin").write_bytes(b"12")          # a partial file the client kept
    listing = [{"path": "a.bin", "size": 5}, {"path": "b.bin", "size": 10},
               {"path": "c.bin", "size": 1}, {"path": "d.bin", "size": None}]
    problems = hub.verify(str(tmp_path), listing)
    assert problems == ["b.bin: 2 bytes, the hub lists 10", "c.bin: missing", "d.bin: missing"]


def test_patterns() -> None:
    hub = load("hub_download")
    assert hub.wanted("model.safetensors", ["*.safetensors"], [])
    assert not hub.wanted("x.bin", ["*.safetensors"], [])
    assert not hub.wanted("sub/x.bin", [], ["sub/*"])


def test_unreachable_is_detected_quickly() -> None:
    import socket
    import time

    hub = load("hub_download")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    assert hub.reachable(f"http://127.0.0.1:{port}") is not None
    assert time.monotonic() - t0 < 5


def test_link_model_skips_bookkeeping(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ("config.json", "sub/w.bin", ".git/HEAD", "._____temp/part", ".lock",
                ".complete.json", "manifest.json"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    dest = tmp_path / "dest"
    result = subprocess.run([sys.executable, str(WORKERS / "link_model.py"), str(src),
                             str(dest), "--exclude", "sub/*"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == \
        ["config.json"]
    # A copy (copy-on-write where the file system can), never the user's file itself
    assert (dest / "config.json").stat().st_ino != (src / "config.json").stat().st_ino
    assert (dest / "config.json").read_text() == "config.json"
    assert (dest / "config.json").stat().st_mtime_ns == (src / "config.json").stat().st_mtime_ns
    assert "1 cloned" in result.stdout or "1 copied" in result.stdout, result.stdout
    linked = tmp_path / "linked"             # --link: the hub cache, which is ours
    result = subprocess.run([sys.executable, str(WORKERS / "link_model.py"), str(src),
                             str(linked), "--link", "--exclude", "sub/*"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert (linked / "config.json").stat().st_ino == (src / "config.json").stat().st_ino


# mmengine's substitutions (mmengine/config/config.py, 0.10–0.11): environment variables,
# predefined variables and base variables, matched in a config file's text.
MMENGINE_PATTERNS = [r"\{\{['\"]?\s*\$(\w+)\s*\:\s*(\S*?)\s*['\"]?\}\}",
                     r"\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)"
                     r"\s*\}\}",
                     r"\{\{\s*_base_\.([\w\.]+)\s*\}\}"]
TRICKY = ["{{$HOME:x}}", "{{ fileDirname }}/{{fileExtname}}", "{{_base_.a.b}}", "a\\{{b}}",
          "quotes ' \" {x}", "中文{{ $HF_TOKEN : y }}", "line\n{{'$A:1'}}", "{}", ""]


def test_opencompass_dumps_spell_braces_as_escapes() -> None:
    import re

    oc = load("opencompass_launch")
    source = "".join(f"v{i} = {v!r}\n" for i, v in enumerate(TRICKY)) + \
        "d = {'k': dict(x='{{$HOME:x}}', n=1), 'e': {}}\nb = b'{{$HOME:x}}'\n"
    out = oc.without_braces(source)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    exec(source, before)
    exec(out, after)
    assert {k: v for k, v in after.items() if k != "__builtins__"} == \
        {k: v for k, v in before.items() if k != "__builtins__"}
    text = out.replace("b'{{$HOME:x}}'", "")          # bytes are left alone (never dumped)
    assert not any(re.search(p, text) for p in MMENGINE_PATTERNS), out


def test_xtuner_configs_spell_braces_as_escapes() -> None:
    import ast
    import re

    xt = load("xtuner_cfg")
    config = {"a": TRICKY, "nested": {"deeper": {"x": "{{$HOME:x}}"}, "empty": {}},
              "list": [{"y": "{z}"}, [], 1, 2.5, None, True], "{{ fileDirname }}": "key",
              "t": (0.9, 0.999), "zh": "你好 {input}\\{x}"}
    text = xt.literal_py(config)
    assert ast.literal_eval(text) == config
    assert not any(re.search(p, text) for p in MMENGINE_PATTERNS), text
    # A whole config: Python whose variables are the config's keys, nothing else
    source = xt.python_config({"model": config, "lr": 2e-4}, ["a header {{$HOME:x}}"])
    namespace: dict[str, object] = {}
    exec(compile(source, "config.py", "exec"), {}, namespace)
    assert namespace == {"model": config, "lr": 2e-4}
    assert not any(re.search(p, source) for p in MMENGINE_PATTERNS), source


def test_agent_model_answers_are_classified() -> None:
    import pytest

    llm = load("agent_llm")
    ok = b'{"choices": [{"message": {"content": " hi "}}]}'
    assert llm.answer_of(200, ok) == "hi"
    assert llm.answer_of(503, b"busy") is None and llm.answer_of(429, b"") is None
    for status, body, said in [(422, b'{"detail": "bad field"}', "HTTP 422: {\"detail\""),
                               (200, b"<html>", "HTTP 200: <html>"),
                               (200, b'{"choices": []}', "not a chat completion")]:
        with pytest.raises(llm.ModelCallFailed, match=said) as caught:
            llm.answer_of(status, body)
        assert caught.value.unreachable is False
