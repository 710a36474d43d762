"""The download stage on local sources: the tiny model, copied (never sharing a file with the
user's folder), published read-only, verified, described; a cached output that was changed
afterwards is noticed."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conftest import TINY_MODEL, cli, write


def recipe(tmp_path: Path, extra: str = "", source: str | None = None) -> Path:
    return write(tmp_path / "r.yaml", "version: 1\nname: dl\nstages:\n  download:\n"
                 f"    source: {source or TINY_MODEL}\n{extra}")


def test_local_model_is_copied_read_only_and_described(tmp_path: Path) -> None:
    source = tmp_path / "mine"
    shutil.copytree(TINY_MODEL, source)
    before = (source / "config.json").read_bytes()
    r = recipe(tmp_path, source="./mine")
    result = cli("run", str(r), "--json")
    assert result.returncode == 0, result.stderr
    out = tmp_path / ".internpipe/dl/stages/download/out"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (out / name).stat().st_ino != (source / name).stat().st_ino, "the user's file"
        assert (out / name).read_bytes() == (source / name).read_bytes()
    published = [p for p in out.rglob("*") if p.is_file()]
    assert published and all(p.stat().st_mode & 0o222 == 0 for p in published)   # r--r--r--
    assert all(p.stat().st_mode & 0o200 for p in [out, *out.rglob("*")] if p.is_dir())
    assert (source / "config.json").stat().st_mode & 0o200          # the user's: untouched
    # A tool that writes into the output (past its mode: root here) changes only ours.
    target = out / "config.json"
    target.chmod(0o644)
    target.write_text("{}")
    assert (source / "config.json").read_bytes() == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {"config.json", "model.safetensors"}
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["chat_template"] == "internlm2"          # detected from tokenizer_config
    state = json.loads((tmp_path / ".internpipe/dl/state.json").read_text())
    art = state["stages"]["download"]["artifact"]
    assert art["kind"] == "model" and art["model_type"] == "llama"
    assert art["chat_template_origin"] == "detected"


def test_rerun_is_cached_and_fast(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    assert cli("run", str(r)).returncode == 0
    t0 = time.monotonic()
    again = cli("run", str(r), "--json")
    took = time.monotonic() - t0
    finished = [json.loads(x) for x in again.stdout.splitlines()][-2]
    assert finished["status"] == "cached"
    assert took < 3.0          # the whole CLI process, interpreter start included


def test_include_exclude_and_template_from_recipe(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    exclude: ['generation_config.json']\n"
                         "    chat_template: chatml\n")
    assert cli("run", str(r)).returncode == 0
    out = tmp_path / ".internpipe/dl/stages/download/out"
    assert not (out / "generation_config.json").exists()
    assert json.loads((out / "provenance.json").read_text())["chat_template"] == "chatml"


def test_not_a_model_folder_fails_clearly(tmp_path: Path) -> None:
    write(tmp_path / "notamodel" / "readme.txt", "hi")
    r = recipe(tmp_path, source="./notamodel")
    result = cli("run", str(r))
    assert result.returncode == 1
    assert "not a Hugging Face model folder" in result.stderr
    assert not (tmp_path / ".internpipe/dl/stages/download/out").exists()


def test_missing_local_source_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("run", str(recipe(tmp_path, source="./nowhere")))
    assert result.returncode == 2
    assert "nowhere does not exist" in result.stderr


def test_demo_recipe_validates_and_runs(tmp_path: Path) -> None:
    import shutil

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns(
        ".internpipe"))
    demo = tmp_path / "recipes" / "demo-tiny.yaml"
    assert cli("validate", str(demo)).returncode == 0
    result = cli("run", str(demo), "--until", "download")
    assert result.returncode == 0, result.stderr
    assert os.path.isdir(tmp_path / "recipes/.internpipe/demo-tiny/stages/download/out")


def test_standalone_download_to_a_folder(tmp_path: Path) -> None:
    result = cli("download", str(TINY_MODEL), "--to", "copy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "copy"
    out = next(tmp_path.glob(".internpipe/*/stages/download/out"))
    for other in (TINY_MODEL, out):       # the user's copy shares no file with either
        assert (copy / "model.safetensors").stat().st_ino != \
            (other / "model.safetensors").stat().st_ino
    assert (copy / "model.safetensors").read_bytes() == \
        (TINY_MODEL / "model.safetensors").read_bytes()
    assert all(p.stat().st_mode & 0o200 for p in copy.rglob("*"))    # and is the user's
    assert json.loads((copy / "provenance.json").read_text())["chat_template"] == "internlm2"
    again = cli("download", str(TINY_MODEL), "--to", "copy", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_standalone_bad_source_names_the_argument(tmp_path: Path) -> None:
    result = cli("download", "hf:onlyname", cwd=tmp_path)
    assert result.returncode == 2
    assert "SOURCE" in result.stderr and "OWNER/NAME" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_changed_output_is_noticed_and_rebuilt(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    assert cli("run", str(r)).returncode == 0
    out = tmp_path / ".internpipe/dl/stages/download/out"
    config = out / "config.json"
    original = config.read_bytes()

    def plan() -> dict:
        result = cli("plan", str(r), "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["stages"][0]

    assert plan()["action"] == "cached"
    config.chmod(0o644)                       # an edit of the same size: only mtime tells
    config.write_bytes(original.replace(b'"llama"', b'"LLAMA"'))
    assert config.stat().st_size == len(original)
    stage = plan()
    assert stage["action"] == "run" and stage["status"] == "stale", stage
    assert stage["reasons"] == ["output changed: config.json"]
    result = cli("run", str(r), "--json")
    assert result.returncode == 0, result.stderr
    assert config.read_bytes() == original and config.stat().st_mode & 0o222 == 0
    assert plan()["action"] == "cached"

    (out / "extra.txt").write_text("x")       # added, removed: also changes
    assert plan()["reasons"] == ["output changed: extra.txt (added)"]
    (out / "extra.txt").unlink()
    (out / "tokenizer.json").unlink()
    assert plan()["reasons"] == ["output changed: tokenizer.json (missing)"]
    assert cli("run", str(r), "--force").returncode == 0    # re-publish over read-only files
    assert plan()["action"] == "cached" and not (out.parent / ".out.old").exists()
