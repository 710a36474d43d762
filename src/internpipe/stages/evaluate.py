"""evaluate: OpenCompass on several models of the recipe in one run, side by side.

One step, in the OpenCompass env: `opencompass config.py -w OUTPUTS` with a config that
internpipe generates (literal values and imported classes only, since OpenCompass re-loads
it in every task) and keeps in the work dir. On CPU it runs all tasks in one process
(`--debug`: 10x faster there). OpenCompass exits 0 when tasks failed, so success is judged
from what it wrote: every model × dataset result file, no `-` cell in the summary and no
traceback in the task logs. An interrupted run is resumed with `-r` (finished tasks reused)
as long as the stage's fingerprint is unchanged.

Models: model-producing stages are loaded by OpenCompass's HuggingFace chat model (or
converted to TurboMind with `-a lmdeploy` on CUDA); deploy stages and `endpoints:` are
evaluated through their OpenAI-compatible API.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from internpipe import evaldata, ocdatasets, scores
from internpipe.errors import Problem, RecipeError, StageFailed, UserError
from internpipe.stages import ENDPOINT, MODEL, SCORES, InputRef, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import resolve, shown

KIND = "evaluate"
PRODUCES = SCORES
# Under `launcher: slurm` OpenCompass's own Slurm runner submits its tasks (srun): the
# driver itself runs here, not as a job.
SLURM_NATIVE = True
VERSION = 1
INPUTS = (InputSpec("models", frozenset({MODEL, ENDPOINT}), many=True,
                    default="first_and_nearest", unless="endpoints"),)

# metric name → OpenCompass evaluator class (None: the custom dataset type's own default).
METRICS: dict[str, dict[str, str | None]] = {
    "qa": {"rouge": "RougeEvaluator", "bleu": "BleuEvaluator", "exact": "AccEvaluator"},
    "mcq": {"option": None, "exact": "AccEvaluator"},
}
DEFAULT_METRIC = {"qa": "rouge", "mcq": "option"}
EVALUATORS_MODULE = "opencompass.openicl.icl_evaluator"
# A chat model cannot score PPL datasets (OpenCompass needs a base model for them).
PPL = re.compile(r"_ppl(_|$)")


class CustomDataset(Base):
    path: str
    type: Literal["qa", "mcq"] = "qa"
    metric: str | None = Field(None, description="qa: rouge (default) | bleu | exact; "
                                                  "mcq: option (default) | exact")
    prompt: str | None = Field(None, description="the question as sent, e.g. "
                                                 "'Answer briefly: {question}'")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="the dataset's name in the table (default: file "
                                         "name)")

    @model_validator(mode="after")
    def _known_metric(self) -> CustomDataset:
        if self.metric is not None and self.metric not in METRICS[self.type]:
            raise ValueError(f"metric {self.metric!r} is not one for {self.type} data; "
                             f"choose from {', '.join(METRICS[self.type])}")
        return self


class Endpoint(Base):
    url: str = Field(description="the server's base URL (…/v1 or …/v1/chat/completions "
                                 "are accepted too)")
    model: str = Field(description="the model name the server expects in requests")
    tokenizer: str | None = Field(None, description="a local tokenizer folder (OpenCompass "
                                                    "counts tokens with it)")
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]*$")
    api_key_env: str | None = None
    stream: bool = True


class Options(Base):
    models: list[str] | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    datasets: list[str | CustomDataset] = Field(min_length=1)
    data_dir: str | None = Field(None, description="where built-in datasets' data is "
                                                   "(default: $COMPASS_DATA_CACHE, else "
                                                   "~/.cache/opencompass)")
    backend: Literal["auto", "huggingface", "lmdeploy"] = "auto"
    limit: int | None = Field(None, ge=1, description="the first N items of each dataset")
    max_out_len: int = Field(64, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    batch_size: int = Field(8, ge=1)


def tool(options: Any, device: str) -> str | None:
    return "opencompass"


def _customs(options: Any) -> list[CustomDataset]:
    return [d for d in options.datasets if isinstance(d, CustomDataset)]


def _builtins(options: Any) -> list[str]:
    return [d for d in options.datasets if isinstance(d, str)]


def local_files(options: Any, recipe_dir: Path) -> list[Path]:
    return [resolve(recipe_dir, d.path) for d in _customs(options)]


def backend(options: Any, device: str) -> str:
    if options.backend != "auto":
        return str(options.backend)
    return "lmdeploy" if device == "cuda" else "huggingface"


def data_dir(options: Any, recipe_dir: Path) -> Path:
    if options.data_dir:
        return resolve(recipe_dir, options.data_dir)
    cache = os.environ.get("COMPASS_DATA_CACHE")
    return Path(cache).expanduser().resolve() if cache else \
        Path.home() / ".cache" / "opencompass"



def _abbr(dataset: CustomDataset) -> str:
    return dataset.name or Path(dataset.path).name.split(".")[0]


def check_custom(ctx: StageContext) -> int:
    """Every row of every custom file; the total. Problems: exit 2, file:line."""
    opts: Any = ctx.options
    total, problems, seen = 0, [], set()
    for d in _customs(opts):
        path = resolve(ctx.recipe_dir, d.path)
        count, found = evaldata.check_file(path, d.type, shown(path, ctx.recipe_dir),
                                           d.prompt)
        total += count
        problems += found
        if _abbr(d) in seen:
            problems.append(Problem(shown(path, ctx.recipe_dir), None, "name",
                                    f"two datasets are named {_abbr(d)!r}; give one a "
                                    "`name:`"))
        seen.add(_abbr(d))
    if problems:
        raise RecipeError(problems)
    return total


def check_builtins(ctx: StageContext) -> bool:
    """Each named dataset must be an OpenCompass config whose data is staged. False when the
    OpenCompass env is not there yet to look in (checked again before launch)."""
    opts: Any = ctx.options
    names = _builtins(opts)
    if not names:
        return True
    pkg = ocdatasets.package_dir(ctx.python)
    if pkg is None:
        return False
    where = data_dir(opts, ctx.recipe_dir)
    for name in names:
        config = ocdatasets.find_config(pkg, name)
        if config is None:
            import difflib

            close = difflib.get_close_matches(name, ocdatasets.config_names(pkg), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"stage {ctx.name!r}: {name!r} is neither a data file nor an "
                            f"OpenCompass dataset config{hint} (custom data: "
                            "{path: FILE, type: qa|mcq})")
        if PPL.search(name) and any(r.produces == MODEL for r in _model_refs(ctx)):
            raise UserError(f"stage {ctx.name!r}: {name} is a perplexity (PPL) dataset, which "
                            "OpenCompass scores with base models only, and internpipe "
                            "evaluates chat models; use its _gen variant")
        if not ocdatasets.dataset_lists(config):
            raise UserError(f"stage {ctx.name!r}: OpenCompass config {name} defines no "
                            "*_datasets list")
        missing = ocdatasets.missing_data(pkg, config, where)
        if missing:
            first = missing[0]
            how = (f"unzip OpenCompass's archive {first.url} into {where / 'data'}"
                   if first.url else f"copy the dataset to {first.expected}")
            source = "data_dir" if opts.data_dir else (
                "$COMPASS_DATA_CACHE" if os.environ.get("COMPASS_DATA_CACHE") else
                "the default")
            raise UserError(
                f"stage {ctx.name!r}: the data of OpenCompass dataset {name} is not staged. "
                f"OpenCompass reads it from {first.expected} (COMPASS_DATA_CACHE = {where}, "
                f"from {source}) and would try to download it, which cannot work offline. "
                f"Stage it: {how}; or point `data_dir:` (or $COMPASS_DATA_CACHE) at a "
                "folder that has it",
                [Problem(name, None, "path", f"{m.path} → {m.expected}") for m in missing])
    return True


def _model_refs(ctx: StageContext) -> list[InputRef]:
    return list(ctx.inputs.get("models") or [])


class Code(str):
    """Source text placed in the config as is (an imported class, a variable)."""


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
    if isinstance(value, str | int | float | bool) or value is None:
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


def _hf_model(ctx: StageContext, ref: InputRef) -> dict[str, Any]:
    opts: Any = ctx.options
    return {"type": Code("HuggingFacewithChatTemplate"), "abbr": ref.stage,
            "path": str(ref.path), "tokenizer_path": str(ref.path),
            "max_out_len": opts.max_out_len, "max_seq_len": opts.max_seq_len,
            "batch_size": opts.batch_size, "generation_kwargs": {"do_sample": False},
            "run_cfg": {"num_gpus": 1 if ctx.device == "cuda" else 0}}


def _api_model(ctx: StageContext, abbr: str, url: str, model: str, tokenizer: str | None,
               stream: bool, keyed: bool) -> dict[str, Any]:
    opts: Any = ctx.options
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
    opts: Any = ctx.options
    found, key_vars = [], set()
    for ref in _model_refs(ctx):
        if ref.produces == MODEL:
            found.append(_hf_model(ctx, ref))
            continue
        art = ref.artifact or {}
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


def datasets(ctx: StageContext) -> tuple[list[str], list[Any]]:
    """(read_base imports, dataset entries) for the config."""
    opts: Any = ctx.options
    imports: list[str] = []
    entries: list[Any] = []
    pkg = ocdatasets.package_dir(ctx.python)
    for d in _customs(opts):
        entry: dict[str, Any] = {"abbr": _abbr(d), "path": str(resolve(ctx.recipe_dir, d.path)),
                                 "data_type": d.type, "infer_method": "gen"}
        evaluator = METRICS[d.type][d.metric or DEFAULT_METRIC[d.type]]
        if evaluator:
            entry["evaluator"] = Code(evaluator)
        if d.prompt:
            entry["human_prompt"] = d.prompt
        if opts.limit:
            entry["test_range"] = f"[0:{opts.limit}]"
        entries.append(entry)
    for i, name in enumerate(_builtins(opts)):
        config = ocdatasets.find_config(pkg, name) if pkg else None
        module = ocdatasets.module_name(pkg, config) if pkg and config else \
            f"opencompass.configs.datasets.<{name}>"
        for var in (ocdatasets.dataset_lists(config) if config else [f"{name}_datasets"]):
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
    imports, entries = datasets(ctx)
    classes = sorted({str(m["type"]) for m in found})
    evaluators = sorted({str(e["evaluator"]) for e in entries
                         if isinstance(e, dict) and "evaluator" in e})
    lines = [f"# Generated by internpipe for stage {ctx.name!r} of recipe {ctx.recipe_name!r}.",
             "# Literal values and imported classes only: OpenCompass re-loads this file in "
             "every task.",
             "# Run it by hand: opencompass THIS_FILE -w OUTPUT_DIR --debug"]
    if imports:
        lines.append("from mmengine.config import read_base")
    lines.append(f"from opencompass.models import {', '.join(classes)}")
    if evaluators:
        lines.append(f"from {EVALUATORS_MODULE} import {', '.join(evaluators)}")
    if imports:
        lines += ["", "with read_base():", *imports]
    lines += ["", f"models = {render(found)}", "", f"datasets = {render(entries)}", ""]
    return "\n".join(lines)


def outputs_dir(ctx: StageContext) -> Path:
    """OpenCompass's work dir, one per fingerprint: a resumed run reuses only tasks of the
    same models, data and options."""
    return ctx.work / "outputs" / (ctx.fingerprint[:16] or "run")


def plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    eng = backend(opts, ctx.device)
    if eng == "lmdeploy" and ctx.device != "cuda":
        raise UserError(f"stage {ctx.name!r}: OpenCompass's lmdeploy backend (TurboMind) "
                        "needs CUDA; on cpu use `backend: huggingface` or leave `auto`")
    check_custom(ctx)
    check_builtins(ctx)
    text = config_text(ctx)
    _, key_var = models(ctx)
    out = outputs_dir(ctx)
    argv = [str(Path(str(ctx.python)).parent / "opencompass"), str(ctx.work / "config.py"),
            "-w", str(out)]
    res = ctx.resources
    if res is not None and res.launcher == "slurm":
        partition = res.slurm.partition if res.slurm else None
        if not partition:
            raise UserError(f"stage {ctx.name!r}: OpenCompass's Slurm runner needs a "
                            "partition: set resources.slurm.partition")
        argv += ["--slurm", "-p", partition, "--max-num-workers",
                 str(max(1, res.nodes * (res.gpus_per_node or 1)))]
        if res.slurm and res.slurm.qos:
            argv += ["--qos", res.slurm.qos]
    elif ctx.device != "cuda":
        argv.append("--debug")            # all tasks in this process: 10x faster on CPU
    if eng == "lmdeploy" and any(r.produces == MODEL for r in _model_refs(ctx)):
        argv += ["-a", "lmdeploy"]
    if out.is_dir() and any(p.is_dir() for p in out.iterdir()):
        argv += ["-r", "latest"]          # an interrupted run of the same fingerprint
    env = {"COMPASS_DATA_CACHE": str(data_dir(opts, ctx.recipe_dir))}
    if key_var:
        if not os.environ.get(key_var):
            raise UserError(f"stage {ctx.name!r}: the API key variable {key_var} is not set")
        env["OPENAI_API_KEY"] = os.environ[key_var]
    return [Step("evaluate", argv, tool="opencompass", files={"config.py": text},
                 env=env, offline=True)]


def notes(ctx: StageContext) -> list[str]:
    found = []
    try:
        opts: Any = ctx.options
        n = check_custom(ctx)
        if _customs(opts):
            found.append(f"{n} custom items" + (f" (first {opts.limit} each)" if opts.limit
                                                 else ""))
        if _builtins(opts) and not check_builtins(ctx):
            found.append("built-in datasets are checked once the opencompass env is built")
        out = outputs_dir(ctx)
        if out.is_dir() and any(p.is_dir() for p in out.iterdir()):
            found.append("resumes OpenCompass's finished tasks (-r)")
    except (UserError, OSError):
        pass
    return found


PROGRESS = re.compile(r"Progress of This Task --> Models: (\d+)/(\d+), Datasets: (\d+)/(\d+)")


def parse_line(line: str) -> dict[str, Any] | None:
    match = PROGRESS.search(line)
    if not match:
        return None
    model, models_n, ds, ds_n = map(int, match.groups())
    return {"current": (model - 1) * ds_n + ds, "total": models_n * ds_n}


def _newest_run(out: Path) -> Path | None:
    runs = sorted(p for p in out.glob("*") if p.is_dir() and (p / "summary").is_dir())
    return runs[-1] if runs else None


def _tracebacks(run: Path) -> list[str]:
    for log in sorted(run.glob("logs/**/*.out")):
        text = log.read_text(errors="replace")
        if "Traceback (most recent call last)" in text:
            tail = text.strip().splitlines()[-8:]
            return [f"{log.relative_to(run)}:", *tail]
    return []


def collect(ctx: StageContext) -> dict[str, Any]:
    found, _ = models(ctx)
    names = [m["abbr"] for m in found]
    run = _newest_run(outputs_dir(ctx))
    if run is None:
        raise StageFailed(ctx.name, "OpenCompass wrote no summary")
    failed = _tracebacks(run)
    if failed:
        raise StageFailed(ctx.name, f"an OpenCompass task failed ({failed[0].rstrip(':')})",
                          failed[1:])
    summaries = sorted((run / "summary").glob("summary_*.csv"))
    if not summaries:
        raise StageFailed(ctx.name, f"OpenCompass wrote no summary CSV in {run / 'summary'}")
    with summaries[-1].open(newline="", encoding="utf-8") as f:
        table = scores.from_summary(list(csv.reader(f)), names)
    missing = [f"{model}/{ds}" for model in names for ds in table.datasets
               if not (run / "results" / model / f"{ds}.json").exists()]
    holes = table.missing()
    if holes or missing:
        what = "; ".join(holes[:5] or missing[:5])
        raise StageFailed(ctx.name, f"OpenCompass has no score for {what} (a task failed "
                                    "or was skipped; see the log)")
    out = ctx.out
    for part in ("predictions", "results"):
        if (run / part).is_dir():
            shutil.copytree(run / part, out / part)
    shutil.copy2(ctx.work / "config.py", out / "opencompass_config.py")
    scores.write(table, out / "scores.json", out / "scores.csv")
    # Only an interrupted run's outputs are worth keeping for -r (those of other
    # fingerprints can never be resumed).
    shutil.rmtree(ctx.work / "outputs", ignore_errors=True)
    return {"source": f"OpenCompass on {', '.join(names)}", "models": names,
            "datasets": table.datasets, "scores": table.as_json(),
            "table": "scores.json", "csv": "scores.csv", "predictions": "predictions"}
