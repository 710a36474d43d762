"""finetune with `xtuner_config:` — the user's own XTuner config. The steps load and patch it
in the XTuner env (workers/user_xtuner_cfg.py, through mmengine's Config); here: what the
spec tells the worker, the steps, and what the plan says will be patched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from internpipe.fingerprint import sha256_file
from internpipe.stages import StageContext, Step
from internpipe.stages.base import resolve
from internpipe.stages.finetune.options import PATCHABLE, Options

# What the worker changes on a CPU, when the config has it (as internpipe's own config does
# from the start): notes/upstream.md, XTuner.
CPU_FIXES = ("4-bit quantization_config removed (QLoRA trains as LoRA)", "torch_dtype float32",
             "AmpOptimWrapper → OptimWrapper", "dist backend gloo",
             "sample generations at 64 new tokens")


def path(opts: Options, recipe_dir: Path) -> Path | None:
    return resolve(recipe_dir, opts.xtuner_config) if opts.xtuner_config else None


def recipe_values(opts: Options) -> dict[str, Any]:
    """The options the recipe sets that are patched into the config."""
    return {name: getattr(opts, name) for name in PATCHABLE if name in opts.model_fields_set}


def spec_part(opts: Options, recipe_dir: Path) -> dict[str, Any]:
    config = path(opts, recipe_dir)
    if config is None:
        return {}
    # The file's hash: an edited config is a new spec, so an interrupted run of the old
    # one is not resumed with it.
    return {"user_config": str(config), "user_config_sha256": sha256_file(config),
            "set": recipe_values(opts)}


def steps(ctx: StageContext, opts: Options, spec_text: str, resume: str | None,
          train_dir: str) -> list[Step]:
    """config (refuses the user's config: exit 2 at `xtuner_config`), then train on it."""
    py, launch = str(ctx.python), str(Path(__file__).parents[2] / "workers" / "xtuner_launch.py")
    config = str(ctx.work / "config.py")
    train = [py, launch, "train-config", config, train_dir]
    train += ["--resume", resume] if resume else ["--fresh"]
    return [Step("config", [py, launch, "config", str(ctx.work / "spec.json"), config],
                 tool="xtuner", files={"spec.json": spec_text}, offline=True,
                 refuses_input=("xtuner_config",)),
            Step("train", train, tool="xtuner", offline=True)]


def notes(opts: Options, device: str) -> list[str]:
    if not opts.xtuner_config:
        return []
    found = [f"xtuner_config {opts.xtuner_config}: patched through mmengine's Config: the "
             "model path (every pretrained_model_name_or_path), the data (json, "
             "dataset_map_fn by format), the work dir (--work-dir)"]
    values = recipe_values(opts)
    if values:
        found.append("from the recipe: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    if opts.report_to:
        found.append(f"visualizer: + {opts.report_to}")
    if device != "cuda":
        found.append("on cpu, where the config has them: " + "; ".join(CPU_FIXES))
    return found
