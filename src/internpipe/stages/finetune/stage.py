"""finetune: XTuner LoRA / QLoRA / full fine-tuning, then pth_to_hf and merge, so the next
stage gets a complete Hugging Face model folder.

Steps, both in the XTuner env through workers/xtuner_launch.py:
  train    spec.json (written by internpipe: literal data) → config.py (a Python config of
           literals, kept in work/ and as the output's xtuner_config.py), then XTuner's train
           tool in the same process; resumes from the last checkpoint when the spec is
           unchanged since an interrupted run (never under --force). With `xtuner_config:`
           a `config` step first loads and patches the user's own config (userconfig.py)
  export   pth_to_hf of the newest checkpoint (the adapter, or the whole model for `full`),
           then for LoRA/QLoRA the adapter merged into the base model
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from internpipe import chat_templates
from internpipe.artifacts import ModelArtifact
from internpipe.errors import RecipeError, StageFailed, UserError
from internpipe.stages import StageContext, Step, base
from internpipe.stages.base import WORKERS, resolve, shown
from internpipe.stages.finetune import checks, data, generations, tracker, userconfig, vlm
from internpipe.stages.finetune.options import INPUTS, KIND, PRODUCES, Options, check
from internpipe.stages.finetune.templates import FROM_CHAT_TEMPLATE as TEMPLATES

__all__ = ["INPUTS", "KIND", "PRODUCES", "Options", "check"]

VERSION = 6      # 6: xtuner_config.py (a loadable Python config), a tracker's run folder;
                 # 5: generations.jsonl; 4: the folder carries the trained template
NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
SERVICE = base.SERVICE
SLURM_NATIVE = base.SLURM_NATIVE
serve = base.serve
keeps_serving = base.never_keeps_serving

LAUNCH = WORKERS / "xtuner_launch.py"

def tool(options: Options, device: str) -> str | None:
    return "xtuner"


def _data_files(options: Options, recipe_dir: Path) -> list[Path]:
    data = options.data if isinstance(options.data, list) else [options.data]
    return [resolve(recipe_dir, d) for d in data]


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    config = userconfig.path(options, recipe_dir)
    # a missing config is `check`'s to report, at its recipe line
    return _data_files(options, recipe_dir) + ([config] if config and config.is_file() else [])


def check_data(ctx: StageContext) -> list[data.Checked]:
    """What each data file holds, checked (cached: `check` read them before planning).
    Problems: exit 2, file:line."""
    opts = ctx.options_as(Options)
    root = checks.image_root(opts, ctx.recipe_dir)
    checked = [data.check_file(path, opts.format, shown(path, ctx.recipe_dir), root)
               for path in _data_files(opts, ctx.recipe_dir)]
    problems = [p for c in checked for p in c.problems]
    if problems:
        raise RecipeError(problems)
    return checked


def data_format(ctx: StageContext) -> str:
    """The format XTuner reads the data in: `format:`, else the one detected."""
    opts = ctx.options_as(Options)
    return str(opts.format or check_data(ctx)[0].format)


def prompt_template(ctx: StageContext) -> str:
    opts = ctx.options_as(Options)
    if opts.template:
        return str(opts.template)
    patched = ctx.work / "patched.json"
    if opts.xtuner_config and patched.exists():      # the user's config's own template
        return str(json.loads(patched.read_text()).get("template") or "")
    artifact = ctx.input("model").model()
    chat = artifact.get("chat_template")
    if chat is None and artifact:
        raise ctx.refuse("the input model has no known chat template; set `template:` (an "
                         "XTuner prompt template, e.g. internlm2_chat)", "template")
    return TEMPLATES.get(str(chat or "internlm2"), str(chat or "internlm2_chat"))


def spec(ctx: StageContext) -> dict[str, Any]:
    opts = ctx.options_as(Options)
    own = userconfig.spec_part(opts, ctx.recipe_dir)
    template = opts.template if own else prompt_template(ctx)
    return {**own, "report_to": opts.report_to,
            "model": str(ctx.input("model").path), "method": opts.method,
            "data": [str(p) for p in _data_files(opts, ctx.recipe_dir)],
            "format": data_format(ctx), "template": template, "device": ctx.device,
            "lora": opts.lora.model_dump(), "max_length": opts.max_length, "pack": opts.pack,
            "map_num_proc": 1, "lr": opts.lr, "grad_accum": opts.grad_accum,
            "epochs": opts.epochs, "warmup_ratio": opts.warmup_ratio,
            "sample_prompts": opts.sample_prompts, "save_every": opts.save_every,
            "keep_checkpoints": opts.keep_checkpoints, "batch_size": opts.batch_size,
            "log_every": opts.log_every, "seed": opts.seed}


def resume_from(ctx: StageContext, spec_text: str) -> str | None:
    """The checkpoint an interrupted run of the same spec left, if any. Only an interrupted
    run is continued: a finished or failed one, or --force, trains from scratch."""
    old = ctx.work / "spec.json"
    marker = ctx.work / "train" / "last_checkpoint"
    if not (ctx.resumable and old.exists() and marker.exists()) or \
            old.read_text() != spec_text:
        return None
    pth = marker.read_text().strip()
    return pth if pth and Path(pth).exists() else None


def launcher_env(ctx: StageContext) -> dict[str, str]:
    """XTuner's own multi-GPU variables, from the stage's resources (none on one device)."""
    resources = ctx.resources
    if resources is None or resources.launcher == "slurm":
        return {}            # under Slurm, srun starts the workers (see slurm_train)
    env: dict[str, str] = {}
    gpus = resources.gpus_per_node or 0
    if gpus > 1 or resources.nodes > 1:
        env["NPROC_PER_NODE"] = str(max(gpus, 1))
        env["NNODES"] = str(resources.nodes)
    return env


def slurm_train(ctx: StageContext, step: Step) -> None:
    """Several GPUs or nodes under Slurm: XTuner's own Slurm path, one srun task per GPU,
    each running the train tool with `--launcher slurm` (mmengine reads SLURM_PROCID etc.)."""
    res = ctx.resources
    if res is None or res.launcher != "slurm":
        return
    gpus = res.gpus_per_node or 0
    if res.nodes == 1 and gpus <= 1:
        return                   # one process: the batch script runs the step as it is
    tasks = max(gpus, 1)
    step.slurm_tasks_per_node = tasks
    step.slurm_argv = ["srun", f"--ntasks-per-node={tasks}", "--kill-on-bad-exit=1",
                       *step.argv, "--launcher", "slurm"]


def plan(ctx: StageContext) -> list[Step]:
    opts = ctx.options_as(Options)   # checked before planning: finetune/checks.py
    if data_format(ctx) == data.VISION:
        return vlm.plan(ctx)         # a vision-language model: XTuner's InternVL path
    text = json.dumps(spec(ctx), indent=1, sort_keys=True, ensure_ascii=False)
    py = str(ctx.python)
    config, train_dir = str(ctx.work / "config.py"), str(ctx.work / "train")
    resume = resume_from(ctx, text)
    if opts.xtuner_config:
        *before, train_step = userconfig.steps(ctx, opts, text, resume, train_dir)
    else:
        before = []
        train = [py, str(LAUNCH), "train", str(ctx.work / "spec.json"), config, train_dir]
        train += ["--resume", resume] if resume else ["--fresh"]
        train_step = Step("train", train, tool="xtuner", files={"spec.json": text},
                          offline=True)
    if opts.deepspeed:
        train_step.argv += ["--deepspeed", f"deepspeed_{opts.deepspeed}"]
    train_step.argv += opts.extra_args
    train_step.env.update(launcher_env(ctx), **tracker.OFFLINE.get(opts.report_to or "", {}))
    export = [py, str(LAUNCH), "export", config, train_dir, str(ctx.out)]
    if opts.method == "full" and not opts.xtuner_config:
        export.append("--full")
    else:   # a user's config without LoRA exports the whole model (the worker looks)
        export += ["--adapter", str(ctx.out / "adapter"), "--base", str(ctx.input("model").path)]
    slurm_train(ctx, train_step)
    return [*before, train_step, Step("export", export, tool="xtuner", offline=True)]


def notes(ctx: StageContext) -> list[str]:
    """Said in the plan beside the reasons."""
    opts = ctx.options_as(Options)
    found = userconfig.notes(opts, ctx.device)
    try:
        if data_format(ctx) == data.VISION:
            return [c.note for c in check_data(ctx)] + [vlm.NOTE]
        text = json.dumps(spec(ctx), indent=1, sort_keys=True, ensure_ascii=False)
        resume = resume_from(ctx, text)
        if resume:
            found.append(f"resumes from {Path(resume).name}")
        checked = check_data(ctx)
        samples = sum(c.samples for c in checked)
        if opts.format:
            about = "about " if any(c.parsed for c in checked) else ""
            found.append(f"{about}{samples} samples ({opts.format})")
            found += [f"{c.counted}" for c in checked if c.parsed]
        else:
            found += [c.note for c in checked]
        if not opts.xtuner_config:       # else the warm-up is the config's own
            found += warmup_note(opts, samples)
    except (UserError, OSError):
        pass
    return found


MIN_WARMUP_ITERS = 2    # as workers/xtuner_launch.py: fewer is dropped at train time


def warmup_note(opts: Options, samples: int) -> list[str]:
    """Whether the warm-up is dropped. mmengine counts it as int(ratio × epochs × iterations
    per epoch); without packing an epoch is at most ceil(samples / batch) iterations, with
    packing fewer, known only once XTuner packed the data."""
    if opts.warmup_ratio <= 0:
        return []
    at_most = opts.epochs * -(-samples // opts.batch_size)
    if int(opts.warmup_ratio * at_most) < MIN_WARMUP_ITERS:
        return [f"no warm-up: warmup_ratio {opts.warmup_ratio:g} of at most {at_most} "
                f"iterations is under {MIN_WARMUP_ITERS}"]
    if opts.pack:
        return [f"warm-up: warmup_ratio {opts.warmup_ratio:g} of the packed iterations, none "
                f"if under {MIN_WARMUP_ITERS} (the train log says)"]
    return []


ITER = re.compile(r"Iter\(train\)\s*\[\s*(\d+)/(\d+)\].*?lr:\s*([0-9.e+-]+)"
                  r"(?:.*?eta:\s*(\S+))?.*?loss:\s*([0-9.e+-]+)")


def parse_line(line: str) -> dict[str, Any] | None:
    match = ITER.search(line)
    if not match:
        return None
    step, total, lr, eta, loss = match.groups()
    out: dict[str, Any] = {"current": int(step), "total": int(total), "unit": "step",
                           "loss": float(loss),
                           "lr": float(lr)}
    if eta:
        out["eta"] = eta
    return out


def collect(ctx: StageContext) -> ModelArtifact:
    if data_format(ctx) == data.VISION:
        return vlm.collect(ctx)
    opts = ctx.options_as(Options)
    out = ctx.out
    if not (out / "config.json").exists() or not any(out.glob("*.safetensors")):
        raise StageFailed(ctx.name, "XTuner did not produce a Hugging Face model "
                                    f"(no config.json / *.safetensors in {out})")
    base = ctx.input("model")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "tokenizer.model", "chat_template.jinja"):
        if not (out / name).exists() and (base.path / name).exists():
            shutil.copy2(base.path / name, out / name)   # pth_to_hf of a full model skips it
    # The chat template lock: the folder renders what XTuner trained on (not the base
    # model's own template), and generation ends where the template ends a reply.
    template = prompt_template(ctx)
    stop_ids: list[int] = []
    if template:       # "": a user's config whose template XTuner does not name
        chat_templates.write_folder_template(out, template)
        stop_ids = chat_templates.add_stop_tokens(out, template)
    train = ctx.work / "train"
    curve = []
    for scalars in sorted(train.glob("*/vis_data/scalars.json")):
        curve += [json.loads(line) for line in scalars.read_text().splitlines() if line.strip()]
    if not curve:
        raise StageFailed(ctx.name, f"no training scalars found under {train}")
    (out / "loss.jsonl").write_text("".join(json.dumps(row) + "\n" for row in curve))
    samples = sorted(train.glob("*/vis_data/eval_outputs_iter_*.txt"))
    if samples:
        (out / "samples").mkdir(exist_ok=True)
        for path in samples:
            shutil.copy2(path, out / "samples" / path.name)
    records = generations.from_files(samples, list(opts.sample_prompts or []), template)
    (out / "generations.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    shutil.copy2(ctx.work / "config.py", out / "xtuner_config.py")
    method = opts.method
    if opts.xtuner_config:
        shutil.copy2(ctx.work / "patched.json", out / "xtuner_patched.json")
        method = json.loads((ctx.work / "patched.json").read_text())["method"]
    kept = tracker.keep(ctx.name, train, out, opts.report_to)
    losses = [row["loss"] for row in curve if "loss" in row]
    upstream = base.model()
    return {"source": f"{method} fine-tune of {upstream.get('source', base.stage)}",
            "chat_template": upstream.get("chat_template"), "method": method,
            "xtuner_config": "xtuner_config.py", "tracker": kept,
            "template": template, "stop_token_ids": stop_ids,
            "steps": curve[-1].get("iter"),
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "adapter": "adapter" if (out / "adapter").is_dir() else None,
            "loss_curve": "loss.jsonl"}
