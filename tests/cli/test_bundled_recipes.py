"""The recipes that ship with internpipe: `recipes list`, `recipes copy`, `init`, and the
wheel: built from the checkout (sdist, then the wheel from the sdist, as a release is),
installed with pip into a fresh venv outside the checkout, where the copied demo recipe
validates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, cli, cli_env


def test_recipes_list_names_every_bundled_recipe() -> None:
    result = cli("recipes", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {r["name"]: r for r in json.loads(result.stdout)["recipes"]}
    assert set(listed) == {p.stem for p in (ROOT / "recipes").glob("*.yaml")}
    assert listed["demo-cpu"]["device"] == "cpu"
    assert all(r["summary"] for r in listed.values())


def test_recipes_copy_takes_what_the_recipe_needs_and_overwrites_nothing(tmp_path: Path
                                                                        ) -> None:
    result = cli("recipes", "copy", "demo-cpu", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo-cpu.yaml").is_file()
    for script in ("make_persona_data.py", "make_demo_data.py"):    # named in its comments
        assert (tmp_path / "scripts" / script).is_file()
    for value in ("data/persona.jsonl", "data/persona_eval.jsonl", "data/persona_math.jsonl"):
        assert (tmp_path / value).read_bytes() == (ROOT / "recipes" / value).read_bytes()
    assert cli("validate", str(tmp_path / "demo-cpu.yaml")).returncode == 0
    again = cli("recipes", "copy", "demo-cpu", str(tmp_path))
    assert again.returncode == 2 and "would overwrite" in again.stderr
    wrong = cli("recipes", "copy", "demo-cpux", str(tmp_path))
    assert wrong.returncode == 2 and "did you mean 'demo-cpu'" in wrong.stderr


def test_init_writes_a_valid_recipe_and_nothing_when_invalid(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]})
                    + "\n")
    model = ROOT / "recipes" / "models" / "tiny-internlm2"
    result = cli("init", "--model", str(model), "--data", "data.jsonl", "--method", "full",
                 "--device", "cpu", "-o", "mine.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert cli("validate", str(tmp_path / "mine.yaml")).returncode == 0
    plan = json.loads(cli("plan", str(tmp_path / "mine.yaml"), "--json").stdout)
    assert [s["stage"] for s in plan["stages"]] == ["download", "finetune"]
    bad = cli("init", "--model", "./nope", "--data", "nope.jsonl", "-o", "bad.yaml",
              cwd=tmp_path)
    assert bad.returncode == 2
    assert "bad.yaml:" in bad.stderr and "no such data file" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "mine.yaml"]
    # Without a terminal, what no flag gives is named.
    asked = cli("init", "--data", "data.jsonl", "-o", "x.yaml", cwd=tmp_path)
    assert asked.returncode == 2 and "--model is needed" in asked.stderr


def test_init_asks_at_a_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    (tmp_path / "d.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n")
    env = cli_env(NO_COLOR="1")
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "init", "--device", "cpu"],
                          cwd=str(tmp_path), env=env, encoding="utf-8", timeout=60)
    child.expect("Model")
    child.sendline(str(ROOT / "recipes" / "models" / "tiny-internlm2"))
    child.expect("Training data")
    child.sendline("d.jsonl")
    child.expect(r"Method .*\[lora\]")
    child.sendline("full")
    child.expect("wrote recipe.yaml")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert 'data: "d.jsonl"' in (tmp_path / "recipe.yaml").read_text()


def test_the_wheel_ships_the_recipes(tmp_path: Path) -> None:
    # A copy of the checkout: building the sdist writes an egg-info beside the sources.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".test-home", ".internpipe", "build", "dist", "*.egg-info",
        "__pycache__", ".*_cache"))
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                             "INTERNPIPE_PLUGINS")}
    subprocess.run([sys.executable, "-m", "uv", "build", "-q", "-o", str(dist), str(source)],
                   check=True, timeout=300, cwd=tmp_path, env=env)
    wheel = next(dist.glob("internpipe-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   timeout=600, env=env)
    work = tmp_path / "work"
    work.mkdir()
    exe = str(venv / "bin" / "internpipe")
    copied = subprocess.run(f"{exe} recipes copy demo-cpu . && {exe} validate demo-cpu.yaml",
                            shell=True, cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert "✔ demo-cpu.yaml" in copied.stdout
    # It came from the installed package, not from a checkout.
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import internpipe.bundled as b;"
                            "print(b.recipes_dir())"], env=env, capture_output=True, text=True,
                           check=True, cwd=work)
    assert where.stdout.strip().startswith(str(venv))
