"""evaluate: OpenCompass on several models of the recipe in one run, side by side.

One step, in the OpenCompass env: `opencompass config.py -w OUTPUTS` (through
workers/opencompass_launch.py, which keeps mmengine from substituting `{{…}}` patterns in
recipe strings when OpenCompass re-loads its config) with a config that internpipe
generates (literal values and imported classes only, since OpenCompass re-loads it in every
task) and keeps in the work dir. On CPU it runs all tasks in one process
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
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from internpipe import scores, template_lock
from internpipe.artifacts import MODEL, ScoresArtifact
from internpipe.errors import StageFailed, UserError
from internpipe.stages import StageContext, Step, base
from internpipe.stages.base import resolve
from internpipe.stages.evaluate import datasets, vqa
from internpipe.stages.evaluate.checks import (
    check_builtins,
    checked,
    custom_items,
    data_dir,
    data_source,
    model_refs,
    staged_path,
    to_fetch,
)
from internpipe.stages.evaluate.config import config_text, models
from internpipe.stages.evaluate.options import (
    INPUTS,
    KIND,
    PRODUCES,
    Options,
    abbr,
    backend,
    builtins,
    check,
    customs,
)

__all__ = ["INPUTS", "KIND", "PRODUCES", "Options", "check"]

VERSION = 2      # 2: stop words cut predictions; rouge_zh, contains
LAUNCH = base.WORKERS / "opencompass_launch.py"
FETCH = base.WORKERS / "compass_fetch.py"
NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
SERVICE = base.SERVICE
# Under `launcher: slurm` OpenCompass's own Slurm runner submits its tasks (srun): the
# driver itself runs here, not as a job.
SLURM_NATIVE = True
serve = base.serve
keeps_serving = base.never_keeps_serving


def tool(options: Options, device: str) -> str | None:
    return None if vqa.only(options) else "opencompass"    # vqa: a stdlib client


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    return [resolve(recipe_dir, d.path) for d in customs(options)]


def outputs_dir(ctx: StageContext) -> Path:
    """OpenCompass's work dir, one per fingerprint: a resumed run reuses only tasks of the
    same models, data and options."""
    return ctx.work / "outputs" / (ctx.fingerprint[:16] or "run")


def plan(ctx: StageContext) -> list[Step]:
    """The OpenCompass command (the data, backend and resources were checked before
    planning: evaluate/checks.py; the named datasets again here, once the env is built)."""
    opts = ctx.options_as(Options)
    if vqa.only(opts):
        return vqa.plan(ctx)
    eng = backend(opts, ctx.device)
    check_builtins(ctx)
    # The models are scored with the prompt they were trained on (template_lock.py).
    template_lock.check_started(ctx, [r for r in model_refs(ctx) if r.produces == MODEL])
    text = config_text(ctx)
    _, key_var = models(ctx)
    out = outputs_dir(ctx)
    argv = [str(ctx.python), str(LAUNCH), str(ctx.work / "config.py"), "-w", str(out)]
    res = ctx.resources
    if res is not None and res.launcher == "slurm":
        partition = str(res.slurm.partition if res.slurm else None)
        argv += ["--slurm", "-p", partition, "--max-num-workers",
                 str(max(1, res.nodes * (res.gpus_per_node or 1)))]
        if res.slurm and res.slurm.qos:
            argv += ["--qos", res.slurm.qos]
    elif ctx.device != "cuda":
        argv.append("--debug")            # all tasks in this process: 10x faster on CPU
    if eng == "lmdeploy" and any(r.produces == MODEL for r in model_refs(ctx)):
        argv += ["-a", "lmdeploy"]
    argv += opts.extra_args
    steps = stage_data(ctx)
    if out.is_dir() and any(p.is_dir() for p in out.iterdir()):
        argv += ["-r", "latest"]          # an interrupted run of the same fingerprint
        broken = broken_outputs(out)
        if broken:                        # OpenCompass would reuse them and fail for good
            steps.append(Step("drop-broken", [str(ctx.python), "-c", DROP,
                                              *map(str, broken)], tool="opencompass"))
    where = data_dir(opts, ctx.recipe_dir)
    fetch = to_fetch(ctx)
    if fetch:                             # OpenCompass's archives, asked first
        steps.insert(0, Step("fetch-data", [str(ctx.python), str(FETCH), str(where), *fetch],
                             tool="opencompass"))
    env = {"COMPASS_DATA_CACHE": str(where)}
    if key_var:
        if not os.environ.get(key_var):
            raise ctx.refuse(f"the API key variable {key_var} is not set")
        env["OPENAI_API_KEY"] = os.environ[key_var]
    # Offline, unless OpenCompass loads a named dataset from ModelScope (DATASET_SOURCE).
    from_modelscope = builtins(opts) and data_source() == "modelscope"
    return [*steps, Step("evaluate", argv, tool="opencompass", files={"config.py": text},
                         env=env, offline=not from_modelscope)]


def stage_data(ctx: StageContext) -> list[Step]:
    """A step writing the qa rows of each file OpenCompass cannot read as it is (a JSON list,
    fine-tuning records), read the way the check read it (workers/chatdata.py)."""
    opts = ctx.options_as(Options)
    steps = []
    for d in customs(opts):
        dest = staged_path(ctx.work, d, ctx.recipe_dir)
        if dest is not None:
            steps.append(Step(f"stage-{abbr(d)}", [
                str(ctx.python), str(CHATDATA), str(resolve(ctx.recipe_dir, d.path)),
                str(dest)], tool="opencompass", offline=True))
    return steps


CHATDATA = base.WORKERS / "chatdata.py"


DROP = ("import os, sys\n"
        "for path in sys.argv[1:]:\n"
        "    if os.path.exists(path):\n"
        "        os.remove(path)\n"
        "        print('dropped an output cut short by an interrupted run:', path)\n")


def broken_outputs(out: Path) -> list[Path]:
    """Prediction and result files of the run `-r latest` resumes (the newest entry by
    name, as OpenCompass picks it) that are not whole JSON: a kill cut them short while
    they were written. OpenCompass skips a task whose file exists, then fails reading it;
    without them the task runs again. (Its own tmp_*.jsonl it checks itself.)"""
    names = sorted(os.listdir(out))
    latest = out / names[-1] if names else out
    broken = []
    for part in ("predictions", "results"):
        for path in sorted((latest / part).glob("*/*.json")):
            try:
                json.loads(path.read_bytes())
            except (OSError, ValueError):
                broken.append(path)
    return broken


def notes(ctx: StageContext) -> list[str]:
    found = []
    try:
        opts = ctx.options_as(Options)
        if vqa.only(opts):
            return vqa.notes(ctx)
        if customs(opts):
            n = custom_items(opts, ctx.recipe_dir)
            sampled = [d.path for d in customs(opts) if checked(d, ctx.recipe_dir).parsed]
            found.append(("about " if sampled else "") + f"{n} custom items"
                         + (f" (first {opts.limit} each)" if opts.limit else ""))
            found += [f"{path}: a sampled check of this large file (--full-data-check "
                      "parses every line)" for path in sampled]
            found += rouge_on_chinese(opts, ctx.recipe_dir)
        if builtins(opts) and datasets.package_dir(ctx.python) is None:
            found.append("built-in datasets are checked once the opencompass env is built")
        elif builtins(opts) and data_source() == "modelscope":
            found.append("built-in datasets not staged load from ModelScope "
                         "(DATASET_SOURCE=ModelScope; needs the network)")
        elif to_fetch(ctx):
            found.append(f"fetches {len(to_fetch(ctx))} built-in dataset(s) from OpenCompass's "
                         f"archives into {data_dir(opts, ctx.recipe_dir)} first (needs the "
                         "network; offline, stage them there)")
        out = outputs_dir(ctx)
        if out.is_dir() and any(p.is_dir() for p in out.iterdir()):
            found.append("resumes OpenCompass's finished tasks (-r)")
            broken = broken_outputs(out)
            if broken:
                found.append(f"drops {len(broken)} output file(s) cut short by an "
                             "interrupted run, whose tasks run again")
    except (UserError, OSError):
        pass
    return found


def rouge_on_chinese(opts: Options, recipe_dir: Path) -> list[str]:
    """A warning for each qa file scored with `rouge` whose answers are Chinese: OpenCompass's
    ROUGE keeps only their Latin letters and digits (a wrong Chinese answer that names the
    right English word scores full marks)."""
    found = []
    for d in customs(opts):
        if d.type == "qa" and (d.metric or "rouge") == "rouge":  # (vqa is not read here)
            found_in = checked(d, recipe_dir)       # cached: the file is not read again
            chinese, total = found_in.chinese, found_in.answers
            if chinese:
                found.append(f"warning: {chinese} of {total} answers of {abbr(d)} are Chinese, "
                             "which metric rouge scores by their Latin letters and digits "
                             "only: use `metric: rouge_zh` (Jieba-segmented ROUGE)")
    return found


# OpenCompass's inferencer draws a tqdm bar over the dataset's batches of items (a line of
# its own, or the head of the next log line: tqdm redraws with \r). Other bars (Map:,
# Loading weights:) have a label before the percentage. (Its "Progress of This Task -->
# Models: m/M, Datasets: d/D" counts within one partitioned task: 1/1 for each of ours.)
INFERENCE = re.compile(r"^\s*(\d+)%\|[^|]*\|\s*(\d+)/(\d+) \[")
TASK = re.compile(r"Start inferencing \[([^\]]+)\]")


def parse_line(line: str) -> dict[str, Any] | None:
    match = INFERENCE.match(line)
    if match:
        return {"current": int(match.group(2)), "total": int(match.group(3)),
                "unit": "batch"}
    match = TASK.search(line)
    if match:       # a new task's bar starts: say which, before its first batch
        return {"current": 0, "total": None, "unit": "batch", "task": match.group(1)}
    return None


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


def collect(ctx: StageContext) -> ScoresArtifact:
    if vqa.only(ctx.options_as(Options)):
        return vqa.collect(ctx)
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
