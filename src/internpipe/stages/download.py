"""download: get a model (weights, tokenizer, chat template) into the work dir.

Sources: a local folder (hard-linked into place), or `modelscope:` / `openxlab:` / `hf:`
OWNER/NAME through that hub's official client in its own environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from internpipe import envs
from internpipe.errors import StageFailed
from internpipe.stages import MODEL, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import resolve

KIND = "download"
PRODUCES = MODEL
INPUTS = ()
WORKERS = Path(__file__).resolve().parent.parent / "workers"

HUBS = {"modelscope": "modelscope", "openxlab": "openxlab", "hf": "hfhub"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf")


class Options(Base):
    source: str = Field(description="modelscope:OWNER/NAME, openxlab:OWNER/NAME, "
                                    "hf:OWNER/NAME, or a local folder")
    revision: str | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    endpoint: str | None = None
    chat_template: str | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        hub, sep, repo = value.partition(":")
        if sep and hub in HUBS:
            owner, slash, name = repo.partition("/")
            if not (owner and slash and name) or "/" in name:
                raise ValueError(f"expected {hub}:OWNER/NAME, got {value!r}")
        elif sep and len(hub) > 1 and "/" not in hub:
            raise ValueError(f"unknown hub {hub!r}: use modelscope:, openxlab:, hf: or a "
                             "local path")
        return value


def parse_source(source: str) -> tuple[str | None, str]:
    """('modelscope', 'OWNER/NAME') for hub sources, (None, path) for local ones."""
    hub, sep, repo = source.partition(":")
    if sep and hub in HUBS:
        return hub, repo
    return None, source


def tool(options: Any, device: str) -> str | None:
    hub, _ = parse_source(options.source)
    return HUBS[hub] if hub else None


def local_files(options: Any, recipe_dir: Path) -> list[Path]:
    hub, path = parse_source(options.source)
    return [] if hub else [resolve(recipe_dir, path)]


def cache_dir(hub: str, repo: str, revision: str | None) -> Path:
    """The machine-wide model cache: two recipes naming the same model and revision share
    one download."""
    owner, name = repo.split("/", 1)
    root = os.environ.get("INTERNPIPE_MODEL_CACHE") or envs.home() / "models"
    return Path(root).expanduser() / hub / owner / name / (revision or "default")


def plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
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
    for pattern in opts.include:
        argv += ["--include", pattern]
    for pattern in opts.exclude:
        argv += ["--exclude", pattern]
    steps.append(Step(name="place", argv=argv))
    return steps


def collect(ctx: StageContext) -> dict[str, Any]:
    opts: Any = ctx.options
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
