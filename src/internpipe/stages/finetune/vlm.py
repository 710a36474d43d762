"""finetune of a vision-language model (data in format llava): XTuner 0.2.0's InternVL path,
the course's camp4 flow (InternVL2-2B LoRA on FoodieQA-style data), through
workers/xtuner_vlm.py: train (InternVL_V1_5, LLM and vision encoder frozen, LoRA on the
LLM), then convert_to_official (the LoRA merged into an InternVL-Chat folder that LMDeploy
serves). It needs CUDA and the model's own code from the hub (trust_remote_code), so `check`
refuses it on cpu; `internpipe plan --device cuda` shows the commands anywhere."""

from __future__ import annotations

import json
from typing import Any

from internpipe.artifacts import ModelArtifact
from internpipe.errors import StageFailed
from internpipe.stages import StageContext, Step
from internpipe.stages.base import WORKERS, resolve
from internpipe.stages.finetune.options import Options

WORKER = WORKERS / "xtuner_vlm.py"
TEMPLATE = "internlm2_chat"         # InternVL2-2B/8B/26B's LLMs are InternLM2 (camp4's)
NOTE = ("XTuner's InternVL path: needs CUDA and the model's own code (trust_remote_code); "
        "export merges the LoRA with convert_to_official.py")


def spec(ctx: StageContext) -> dict[str, Any]:
    opts = ctx.options_as(Options)
    files = opts.data if isinstance(opts.data, list) else [opts.data]
    data = [resolve(ctx.recipe_dir, d) for d in files]
    root = resolve(ctx.recipe_dir, opts.image_folder) if opts.image_folder else None
    return {"model": str(ctx.input("model").path), "method": opts.method,
            "data": [str(p) for p in data],
            "image_folders": [str(root or p.parent) for p in data],
            "template": opts.template or TEMPLATE, "lora": opts.lora.model_dump(),
            "max_length": opts.max_length, "batch_size": opts.batch_size,
            "grad_accum": opts.grad_accum, "lr": opts.lr, "epochs": opts.epochs,
            "warmup_ratio": opts.warmup_ratio, "log_every": opts.log_every,
            "save_every": opts.save_every, "keep_checkpoints": opts.keep_checkpoints,
            "seed": opts.seed}


def plan(ctx: StageContext) -> list[Step]:
    text = json.dumps(spec(ctx), indent=1, sort_keys=True, ensure_ascii=False)
    py, config = str(ctx.python), str(ctx.work / "config.py")
    train_dir = str(ctx.work / "train")
    train = [py, str(WORKER), "train", str(ctx.work / "spec.json"), config, train_dir,
             "--fresh"]
    export = [py, str(WORKER), "export", config, train_dir, str(ctx.out)]
    return [Step("train", train, tool="xtuner", files={"spec.json": text}, offline=True),
            Step("export", export, tool="xtuner", offline=True)]


def collect(ctx: StageContext) -> ModelArtifact:
    if not (ctx.out / "config.json").is_file():
        raise StageFailed(ctx.name, "convert_to_official wrote no model folder")
    opts = ctx.options_as(Options)
    # no "template": LMDeploy serves an InternVL-Chat folder with its own internvl2 template
    return {"source": f"XTuner InternVL {opts.method} of {ctx.input('model').stage}",
            "method": str(opts.method), "chat_template": None,
            "chat_template_origin": "model"}
