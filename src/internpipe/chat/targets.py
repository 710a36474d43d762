"""What `internpipe chat TARGET` talks to, brought up for the chat and stopped after it:

    RECIPE          its newest deploy stage (served as `deploy` serves it), else its newest
                    model-producing stage (run up to it, then served like a model folder)
    RECIPE:STAGE    that deploy or model stage
    MODEL_DIR       a model folder or hub source, served like `internpipe deploy MODEL_DIR`
    URL             an OpenAI-compatible server already running (with --model-name)

Serving goes through pipeline.serving, the one way a command brings a service stage up: the
engine is deploy's (LMDeploy on CUDA, `transformers serve` on CPU) and a server the chat
started is stopped when the chat ends; one that was already up is left as it was.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from internpipe import pipeline
from internpipe.artifacts import ENDPOINT
from internpipe.errors import StageFailed, UserError

if TYPE_CHECKING:
    from internpipe.progress import Reporter
    from internpipe.recipe import Recipe

HUBS = ("modelscope:", "openxlab:", "hf:")
RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Target:
    """A served model: its endpoint (base_url, model, api_key_env, engine), a label for the
    page, and what the recipe says about chatting with it: its agent stage's system prompt
    and options (tools, prompts, turns) for the page's agent mode."""

    label: str
    endpoint: dict[str, Any]
    system: str | None = None
    agent: dict[str, Any] = field(default_factory=dict)


def reporter() -> Reporter:
    """Progress of bringing the model up goes to stderr: stdout carries the answers."""
    from rich.console import Console

    from internpipe.progress import PlainReporter

    if sys.stderr.isatty():
        from internpipe.live import LiveReporter

        return LiveReporter(Console(stderr=True))
    return PlainReporter(stream=sys.stderr)


def split_recipe(spec: str) -> tuple[Path, str | None] | None:
    """`R.yaml` or `R.yaml:STAGE` → (recipe path, stage); None when spec names no recipe."""
    head, sep, stage = spec.rpartition(":")
    if sep and head.endswith(RECIPE_SUFFIXES) and Path(head).is_file():
        return Path(head), stage or None
    if spec.endswith(RECIPE_SUFFIXES):
        if not Path(spec).is_file():
            raise UserError(f"{spec}: no such recipe file")
        return Path(spec), None
    return None


def recipe_persona(r: Recipe) -> tuple[str | None, dict[str, Any]]:
    """The system prompt and the options of the recipe's agent stage, if it has one."""
    name = pipeline.stage_of_kind(r, "agent")
    if name is None:
        return None, {}
    opts = r.stages[name].options.model_dump(exclude_unset=True)
    return opts.get("meta_prompt"), opts


def produces(r: Recipe, name: str) -> str:
    from internpipe import stages as registry

    return registry.get_kind(r.stages[name].kind).PRODUCES


def chat_stage(r: Recipe, stage: str | None) -> str:
    """The stage to chat with: the one named, else the newest deploy, else the newest model."""
    from internpipe.artifacts import MODEL

    if stage is not None:
        if stage not in r.stages:
            raise UserError(f"{r.path}: no stage {stage!r} (stages: {', '.join(r.order)})")
        if produces(r, stage) not in (ENDPOINT, MODEL):
            raise UserError(f"{r.path}: stage {stage!r} ({r.stages[stage].kind}) makes no "
                            "model and serves none; chat needs a deploy or a model stage")
        return stage
    for kind in (ENDPOINT, MODEL):
        found = [n for n in r.order if produces(r, n) == kind]
        if found:
            return found[-1]
    raise UserError(f"{r.path}: the recipe has no deploy stage and no model stage")


@contextlib.contextmanager
def serving_folder(source: str, name: str, device: str | None, chat_template: str | None,
                   progress: Reporter) -> Iterator[dict[str, Any]]:
    """A model folder (or hub source) served the way `internpipe deploy MODEL_DIR` serves
    it, in .internpipe/NAME/ of the current folder."""
    download: dict[str, Any] = {"source": source}
    if chat_template:
        download["chat_template"] = chat_template
    r = pipeline.from_arguments("chat", name, {"download": download,
                                               "deploy": {"port": "auto"}}, None)
    with pipeline.serving(r, "deploy", device, progress) as endpoint:
        yield dict(endpoint)


@contextlib.contextmanager
def opened(spec: str, model_name: str | None, api_key_env: str | None,
           overrides: list[str] | None, device: str | None, work_name: str,
           progress: Reporter) -> Iterator[Target]:
    """The target up and served for the duration of the chat."""
    if spec.startswith(("http://", "https://")):
        if not model_name:
            raise UserError(f"{spec}: a server URL needs --model-name (the model it serves)")
        yield Target(model_name, {"base_url": spec, "model": model_name,
                                  "api_key_env": api_key_env})
        return
    named = split_recipe(spec)
    if named is None:
        if not (Path(spec).is_dir() or spec.startswith(HUBS)):
            raise UserError(f"{spec}: not a recipe (.yaml), a model folder, a hub source "
                            "(modelscope:, openxlab:, hf:) or a server URL")
        with serving_folder(spec, work_name, device, None, progress) as endpoint:
            yield Target(Path(spec).name or spec, endpoint)
        return
    path, stage = named
    r = pipeline.load(path, overrides)
    stage = chat_stage(r, stage)
    system, agent = recipe_persona(r)
    label = f"{r.name}:{stage}"
    if produces(r, stage) == ENDPOINT:
        with pipeline.serving(r, stage, device, progress) as endpoint:
            yield Target(label, dict(endpoint), system, agent)
        return
    code = pipeline.run(r, device, pipeline.selection(until=stage), progress)
    if code != 0:
        raise StageFailed(stage, f"the recipe did not reach a finished {stage!r}")
    art = pipeline.artifact_of(r, stage)
    with serving_folder(str(art["path"]), work_name, device, art.get("chat_template"),
                        progress) as endpoint:
        yield Target(label, endpoint, system, agent)
