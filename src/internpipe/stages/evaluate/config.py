"""evaluate: the OpenCompass config internpipe writes: literal values, imported classes and
`read_base()` imports of built-in dataset configs only (OpenCompass re-loads it in every
task, and no recipe string may become code)."""

from __future__ import annotations

from typing import Any

from internpipe.artifacts import MODEL
from internpipe.chat_templates import xtuner_name
from internpipe.errors import UserError
from internpipe.stages import InputRef, StageContext
from internpipe.stages.base import resolve
from internpipe.stages.evaluate import datasets
from internpipe.stages.evaluate.checks import model_refs, staged_path
from internpipe.stages.evaluate.options import (
    DEFAULT_METRIC,
    METRICS,
    Options,
    abbr,
    builtins,
    customs,
)
from internpipe.xtuner_templates import TEMPLATES


class Code(str):
    """Source text placed in the config as is (an imported class, a variable)."""


def py_str(value: str) -> str:
    """A Python literal of the string whose text holds no brace. mmengine substitutes
    `{{$NAME:default}}` (an environment variable), `{{ fileDirname }}` and `{{_base_.x}}`
    in a config's text; written `\\x7b`, a recipe's brace reads back as itself and matches
    nothing (workers/opencompass_launch.py does the same to OpenCompass's own dumps)."""
    return repr(value).replace("{", "\\x7b").replace("}", "\\x7d")


def render(value: Any, indent: int = 0) -> str:
    """A Python literal for the config, dicts written as dict(...) like OpenCompass's own."""
    pad = " " * (indent + 4)
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, dict):
        if not value:
            return "dict()"
        items = [f"{pad}{k}={render(v, indent + 4)}," for k, v in value.items()]
        return "dict(\n" + "\n".join(items) + "\n" + " " * indent + ")"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{pad}{render(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, int | float | bool) or value is None:
        return repr(value)
    raise TypeError(f"not a literal: {value!r}")


API_TEMPLATE = {"round": [{"role": "HUMAN", "api_role": "HUMAN"},
                          {"role": "BOT", "api_role": "BOT", "generate": True}]}


def base_url(url: str) -> str:
    """…/v1 from any of host:port, …/v1, …/v1/chat/completions, …/v1/completions."""
    url = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        url = url.removesuffix(suffix)
    return url if url.endswith("/v1") else url + "/v1"


def stop_words(ref: InputRef) -> list[str]:
    """Where the model's chat template ends a reply: the stop words of the XTuner template it
    was trained with, else of the one its chat template names. OpenCompass stops generating
    at them and cuts each prediction at the first (it adds the tokenizer's EOS itself), so a
    reply's end marker and whatever follows it are never scored."""
    art = ref.model()
    name = art.get("template") or xtuner_name(str(art.get("chat_template") or ""))
    return list(TEMPLATES[name].stop_words) if name in TEMPLATES else []


def _hf_model(ctx: StageContext, ref: InputRef) -> dict[str, Any]:
    opts = ctx.options_as(Options)
    spec = {"type": Code("HuggingFacewithChatTemplate"), "abbr": ref.stage,
            "path": str(ref.path), "tokenizer_path": str(ref.path),
            "max_out_len": opts.max_out_len, "max_seq_len": opts.max_seq_len,
            "batch_size": opts.batch_size, "generation_kwargs": {"do_sample": False},
            "run_cfg": {"num_gpus": 1 if ctx.device == "cuda" else 0}}
    stops = stop_words(ref)
    if stops:
        spec["stop_words"] = stops
    return spec


def _api_model(ctx: StageContext, abbr: str, url: str, model: str, tokenizer: str | None,
               stream: bool, keyed: bool) -> dict[str, Any]:
    opts = ctx.options_as(Options)
    spec: dict[str, Any] = {
        "type": Code("OpenAISDKStreaming" if stream else "OpenAISDK"), "abbr": abbr,
        "path": model, "key": "ENV" if keyed else "EMPTY", "openai_api_base": base_url(url),
        "meta_template": API_TEMPLATE, "max_out_len": opts.max_out_len,
        "max_seq_len": opts.max_seq_len, "batch_size": opts.batch_size,
        "query_per_second": 100, "retry": 1, "temperature": 0.0,
        "run_cfg": {"num_gpus": 0}}
    if tokenizer:
        # Without it OpenCompass reaches for the hub (and a tiktoken download) to count tokens.
        spec["tokenizer_path"] = tokenizer
    return spec


def models(ctx: StageContext) -> tuple[list[dict[str, Any]], str | None]:
    """The OpenCompass model entries, and the env var holding their API key (if any)."""
    opts = ctx.options_as(Options)
    found, key_vars = [], set()
    for ref in model_refs(ctx):
        if ref.produces == MODEL:
            found.append(_hf_model(ctx, ref))
            continue
        art = ref.endpoint()
        keyed = bool(art.get("api_key_env"))
        if keyed:
            key_vars.add(str(art["api_key_env"]))
        found.append(_api_model(ctx, ref.stage, str(art.get("base_url") or
                                                   f"<base URL of {ref.stage}>"),
                                str(art.get("model") or f"<model of {ref.stage}>"),
                                art.get("model_dir"), art.get("engine") != "lmdeploy", keyed))
    for i, ep in enumerate(opts.endpoints, start=1):
        tokenizer = str(resolve(ctx.recipe_dir, ep.tokenizer)) if ep.tokenizer else None
        if ep.api_key_env:
            key_vars.add(ep.api_key_env)
        found.append(_api_model(ctx, ep.name or f"endpoint{i}", ep.url, ep.model, tokenizer,
                                ep.stream, bool(ep.api_key_env)))
    if not found:
        raise UserError(f"stage {ctx.name!r}: nothing to evaluate: name model or deploy "
                        "stages in `models:`, or servers in `endpoints:`")
    names = [m["abbr"] for m in found]
    if len(set(names)) != len(names):
        raise UserError(f"stage {ctx.name!r}: two models are named alike ({names}); give "
                        "the endpoints distinct `name:`s")
    if len(key_vars) > 1:
        raise UserError(f"stage {ctx.name!r}: OpenCompass takes one API key per run "
                        f"(OPENAI_API_KEY), and these endpoints need {sorted(key_vars)}")
    return found, next(iter(key_vars), None)


def dataset_entries(ctx: StageContext) -> tuple[list[str], list[Any]]:
    """(read_base imports, dataset entries) for the config."""
    opts = ctx.options_as(Options)
    imports: list[str] = []
    entries: list[Any] = []
    pkg = datasets.package_dir(ctx.python)
    for d in customs(opts):
        path = staged_path(ctx.work, d, ctx.recipe_dir) or resolve(ctx.recipe_dir, d.path)
        entry: dict[str, Any] = {"abbr": abbr(d), "path": str(path),
                                 "data_type": d.type, "infer_method": "gen"}
        evaluator = METRICS[d.type][d.metric or DEFAULT_METRIC[d.type]]
        if evaluator:
            entry["evaluator"] = Code(evaluator.rpartition(".")[2])
        if d.prompt:
            entry["human_prompt"] = d.prompt
        if opts.limit:
            entry["test_range"] = f"[0:{opts.limit}]"
        entries.append(entry)
    for i, name in enumerate(builtins(opts)):
        config = datasets.find_config(pkg, name) if pkg else None
        module = datasets.module_name(pkg, config) if pkg and config else \
            f"opencompass.configs.datasets.<{name}>"
        for var in (datasets.dataset_lists(config) if config else [f"{name}_datasets"]):
            alias = f"builtin{i}_{var}"
            imports.append(f"    from {module} import {var} as {alias}")
            if opts.limit:
                entries.append(Code(f"*[{{**d, 'reader_cfg': {{**d['reader_cfg'], "
                                    f"'test_range': '[0:{opts.limit}]'}}}} for d in {alias}]"))
            else:
                entries.append(Code(f"*{alias}"))
    return imports, entries


def config_text(ctx: StageContext) -> str:
    found, _ = models(ctx)
    imports, entries = dataset_entries(ctx)
    classes = sorted({str(m["type"]) for m in found})
    opts = ctx.options_as(Options)
    evaluators: dict[str, list[str]] = {}
    used = {METRICS[d.type][d.metric or DEFAULT_METRIC[d.type]] for d in customs(opts)}
    for qualified in sorted(q for q in used if q):
        module, _, name = qualified.rpartition(".")
        evaluators.setdefault(module, []).append(name)
    lines = [f"# Generated by internpipe for stage {ctx.name!r} of recipe {ctx.recipe_name!r}.",
             "# Literal values and imported classes only: OpenCompass re-loads this file in "
             "every task.",
             "# Run it by hand: python workers/opencompass_launch.py THIS_FILE -w OUTPUT_DIR "
             "--debug"]
    if imports:
        lines.append("from mmengine.config import read_base")
    lines.append(f"from opencompass.models import {', '.join(classes)}")
    lines += [f"from {module} import {', '.join(names)}"
              for module, names in evaluators.items()]
    if imports:
        lines += ["", "with read_base():", *imports]
    lines += ["", f"models = {render(found)}", "", f"datasets = {render(entries)}", ""]
    return "\n".join(lines)
