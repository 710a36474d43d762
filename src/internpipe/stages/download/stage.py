"""download: get a model (weights, tokenizer, chat template) into the work dir.

Sources: a local folder (cloned copy-on-write where the file system can, else copied: the
output never shares a file with the user's folder), or `modelscope:` / `openxlab:` / `hf:`
OWNER/NAME through that hub's official client in its own environment, into a machine-wide
cache that the output hard-links (workers/link_model.py).
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
    HUBS,
    INPUTS,
    KIND,
    PRODUCES,
    Options,
    check,
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


def tool(options: Options, device: str) -> str | None:
    hub, _ = parse_source(options.source)
    return HUBS[hub] if hub else None


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    hub, path = parse_source(options.source)
    return [] if hub else [resolve(recipe_dir, path)]


def cache_dir(hub: str, repo: str, revision: str | None) -> Path:
    """The machine-wide model cache: two recipes naming the same model and revision share
    one download."""
    owner, name = repo.split("/", 1)
    root = os.environ.get("INTERNPIPE_MODEL_CACHE") or envs.home() / "models"
    return Path(root).expanduser() / hub / owner / name / (revision or "default")


def plan(ctx: StageContext) -> list[Step]:
    opts = ctx.options_as(Options)
    hub, where = parse_source(opts.source)
    steps = []
    if hub is not None:
        cache = cache_dir(hub, where, opts.revision)
        fetch = [str(ctx.python), str(WORKERS / "hub_download.py"), "--hub", hub, "--repo", where,
                 "--dest", str(cache)]
        for flag, value in (("--revision", opts.revision), ("--endpoint", opts.endpoint)):
            if value:
                fetch += [flag, value]
        for pattern in opts.include:
            fetch += ["--include", pattern]
        for pattern in opts.exclude:
            fetch += ["--exclude", pattern]
        steps.append(Step(name="fetch", argv=fetch, tool=HUBS[hub]))
        source_dir = cache
    else:
        source_dir = resolve(ctx.recipe_dir, where)
    argv = [sys.executable, str(WORKERS / "link_model.py"), str(source_dir), str(ctx.out)]
    if hub is not None:
        argv.append("--link")     # our own cache: hard links; a user's folder is copied
    for pattern in opts.include:
        argv += ["--include", pattern]
    for pattern in opts.exclude:
        argv += ["--exclude", pattern]
    steps.append(Step(name="place", argv=argv))
    return steps


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
    return {"source": opts.source, "revision": opts.revision,
            "model_type": config.get("model_type"), "chat_template": template,
            "chat_template_origin": origin}


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
