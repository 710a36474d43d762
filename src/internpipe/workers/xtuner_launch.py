"""Run XTuner inside its environment: generate the config, train, convert, merge.
stdlib + xtuner only; never imports internpipe.

    python xtuner_launch.py config SPEC.json CONFIG.json
    python xtuner_launch.py train SPEC.json CONFIG.json WORK_DIR [--resume PTH | --fresh]
    python xtuner_launch.py export CONFIG.json WORK_DIR OUT_DIR (--full | --adapter DIR --base DIR)

`train` writes the config from the spec, then trains; `export` runs pth_to_hf on the newest
checkpoint, then (LoRA/QLoRA) merges the adapter into the base model. Each is one process:
XTuner and torch are imported once per step, not once per tool.

Why a launcher: `xtuner train` runs a child and always exits 0, and calls `python` from PATH.
Here XTuner's own tool modules run in this process (their exit code is the real one), with
the fixes a CPU needs applied first (torch.cpu.is_bf16_supported → False: XTuner otherwise
picks bf16 on CPUs that claim it and fails). The config is JSON: every `type` a dotted import
path and every value a literal, so it can be re-run by hand with
`python -m xtuner.tools.train CONFIG.json --work-dir W` and holds nothing executable.
"""

import json
import os
import runpy
import shutil
import sys
from typing import Any

SAMPLE_MAX_NEW_TOKENS = 64     # the sample generations before, during and after training


def cpu_fixes() -> None:
    import torch

    if not torch.cuda.is_available():
        torch.cpu.is_bf16_supported = lambda *a, **k: False


WARMUP = "mmengine.optim.LinearLR"
MIN_WARMUP_ITERS = 2


def drop_short_warmup() -> None:
    """A warm-up is a fraction of the epochs, turned into iterations by mmengine only once
    the data is packed: int(end × iterations per epoch). Under 2 iterations LinearLR refuses
    (0: "end should be larger than begin") or leaves the LR at lr × 1e-5 for the whole run
    (1). Such a warm-up is dropped where the count is known, and the log says so."""
    from mmengine.runner import Runner

    build = Runner.build_param_scheduler

    def build_without_short_warmup(self: Any, scheduler: Any) -> Any:
        if isinstance(scheduler, list) and len(scheduler) > 1 and \
                isinstance(scheduler[0], dict) and scheduler[0].get("type") == WARMUP:
            per_epoch = len(self.train_dataloader)
            iters = int(scheduler[0]["end"] * per_epoch)
            if iters < MIN_WARMUP_ITERS:
                print(f"internpipe: warm-up dropped: {scheduler[0]['end']:g} epochs of "
                      f"{per_epoch} iterations is {iters} iteration(s), under "
                      f"{MIN_WARMUP_ITERS}", flush=True)
                scheduler = [{**s, "begin": 0} for s in scheduler[1:]]
        return build(self, scheduler)

    Runner.build_param_scheduler = build_without_short_warmup


def run_module(module: str, argv: list[str]) -> int:
    """Run an XTuner tool as `python -m module argv…` in this process; return its code."""
    cpu_fixes()
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


# ------------------------------------------------------------------------------- config

MAP_FNS = {"openai": "xtuner.dataset.map_fns.openai_map_fn",
           "alpaca": "xtuner.dataset.map_fns.alpaca_map_fn",
           "xtuner": None}


def make_config(spec: dict[str, Any]) -> dict[str, Any]:
    from xtuner.utils import PROMPT_TEMPLATE

    template = dict(PROMPT_TEMPLATE[spec["template"]])
    cuda = spec["device"] == "cuda"
    dtype = "float32" if not cuda else ("bfloat16" if spec.get("bf16") else "float16")
    tokenizer = {"type": "transformers.AutoTokenizer.from_pretrained",
                 "pretrained_model_name_or_path": spec["model"],
                 "trust_remote_code": True, "padding_side": "right"}
    llm: dict[str, Any] = {"type": "transformers.AutoModelForCausalLM.from_pretrained",
                           "pretrained_model_name_or_path": spec["model"],
                           "trust_remote_code": True, "torch_dtype": dtype}
    if spec["method"] == "qlora":
        llm["quantization_config"] = {
            "type": "transformers.BitsAndBytesConfig", "load_in_4bit": True,
            "load_in_8bit": False, "llm_int8_threshold": 6.0,
            "llm_int8_has_fp16_weight": False, "bnb_4bit_compute_dtype": "float16",
            "bnb_4bit_use_double_quant": True, "bnb_4bit_quant_type": "nf4"}
    model: dict[str, Any] = {"type": "xtuner.model.SupervisedFinetune", "use_varlen_attn": False,
                             "llm": llm}
    if spec["method"] in ("lora", "qlora"):
        lora = spec["lora"]
        model["lora"] = {"type": "peft.LoraConfig", "r": lora["r"],
                         "lora_alpha": lora["alpha"], "lora_dropout": lora["dropout"],
                         "bias": "none", "task_type": "CAUSAL_LM"}
        if lora.get("targets"):
            model["lora"]["target_modules"] = lora["targets"]
    dataset = {"type": "xtuner.dataset.process_hf_dataset",
               "dataset": {"type": "datasets.load_dataset", "path": "json",
                           "data_files": spec["data"]},
               "tokenizer": tokenizer, "max_length": spec["max_length"],
               "dataset_map_fn": MAP_FNS[spec["format"]],
               "template_map_fn": {"type": "xtuner.dataset.map_fns.template_map_fn_factory",
                                   "template": template},
               "remove_unused_columns": True, "shuffle_before_pack": True,
               "pack_to_max_length": spec["pack"], "use_varlen_attn": False,
               # the default, 32 processes, is far too many for small machines
               "map_num_proc": spec["map_num_proc"]}
    optim = {"type": "mmengine.optim.AmpOptimWrapper" if cuda else "mmengine.optim.OptimWrapper",
             "optimizer": {"type": "torch.optim.AdamW", "lr": spec["lr"],
                           "betas": [0.9, 0.999], "weight_decay": 0},
             "clip_grad": {"max_norm": 1, "error_if_nonfinite": False},
             "accumulative_counts": spec["grad_accum"]}
    if cuda:
        optim.update(loss_scale="dynamic", dtype=dtype)
    epochs, warmup = spec["epochs"], spec["warmup_ratio"] * spec["epochs"]
    schedulers = []
    if warmup > 0:
        schedulers.append({"type": "mmengine.optim.LinearLR", "start_factor": 1e-5,
                           "by_epoch": True, "begin": 0, "end": warmup,
                           "convert_to_iter_based": True})
    schedulers.append({"type": "mmengine.optim.CosineAnnealingLR", "eta_min": 0.0,
                       "by_epoch": True, "begin": warmup, "end": epochs,
                       "convert_to_iter_based": True})
    hooks: list[dict[str, Any]] = [
        {"type": "xtuner.engine.hooks.DatasetInfoHook", "tokenizer": tokenizer}]
    if spec["sample_prompts"]:
        hooks.append({"type": "xtuner.engine.hooks.EvaluateChatHook", "tokenizer": tokenizer,
                      "every_n_iters": spec["save_every"],
                      "evaluation_inputs": spec["sample_prompts"], "system": "",
                      # XTuner's default is 600 new tokens a prompt: minutes on a CPU
                      "max_new_tokens": SAMPLE_MAX_NEW_TOKENS,
                      "prompt_template": template})
    config = {
        "tokenizer": tokenizer,   # pth_to_hf saves it beside a fully fine-tuned model
        "model": model,
        "train_dataloader": {
            "batch_size": spec["batch_size"], "num_workers": 0, "dataset": dataset,
            "sampler": {"type": "mmengine.dataset.DefaultSampler", "shuffle": True},
            "collate_fn": {"type": "xtuner.dataset.collate_fns.default_collate_fn",
                           "use_varlen_attn": False}},
        "optim_wrapper": optim,
        "param_scheduler": schedulers,
        "train_cfg": {"type": "xtuner.engine.runner.TrainLoop", "max_epochs": epochs},
        "custom_hooks": hooks,
        "default_hooks": {
            "timer": {"type": "mmengine.hooks.IterTimerHook"},
            "logger": {"type": "mmengine.hooks.LoggerHook", "log_metric_by_epoch": False,
                       "interval": spec["log_every"]},
            "param_scheduler": {"type": "mmengine.hooks.ParamSchedulerHook"},
            "checkpoint": {"type": "mmengine.hooks.CheckpointHook", "by_epoch": False,
                           "interval": spec["save_every"],
                           "max_keep_ckpts": spec["keep_checkpoints"]},
            "sampler_seed": {"type": "mmengine.hooks.DistSamplerSeedHook"}},
        "env_cfg": {"cudnn_benchmark": False,
                    "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
                    "dist_cfg": {"backend": "nccl" if cuda else "gloo"}},
        "visualizer": None, "log_level": "INFO", "load_from": None, "resume": False,
        "randomness": {"seed": spec["seed"], "deterministic": False},
        "log_processor": {"by_epoch": False},
        "prompt_template": template,
    }
    return config


def literal_json(value: Any, indent: str = "") -> str:
    """JSON whose strings spell every brace `\\u007b`/`\\u007d`. mmengine rewrites a
    config's text before parsing it: `{{$NAME:default}}` becomes an environment variable,
    `{{ fileDirname }}` the config's folder, `{{_base_.x}}` a base value. A recipe string
    (a sample prompt, a path) holding one must reach XTuner as written; escaped, the text
    matches nothing and JSON reads the same string. (JSON's own braces are never adjacent.)"""
    inner = indent + " "
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("{", "\\u007b") \
            .replace("}", "\\u007d")
    if isinstance(value, dict) and value:
        items = [f"{inner}{literal_json(str(k))}: {literal_json(v, inner)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list | tuple) and value:
        return "[\n" + ",\n".join(inner + literal_json(v, inner) for v in value) + "\n" \
            + indent + "]"
    return json.dumps(value)


def cmd_config(spec_path: str, out_path: str) -> int:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    config = make_config(spec)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(literal_json(config) + "\n")
    os.replace(tmp, out_path)
    print(f"wrote {out_path} ({spec['method']}, template {spec['template']})")
    return 0


# ------------------------------------------------------------------------------- steps


def newest_checkpoint(work_dir: str) -> str | None:
    marker = os.path.join(work_dir, "last_checkpoint")
    if not os.path.exists(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if path and os.path.exists(path) else None


def cmd_train(config: str, work_dir: str, rest: list[str]) -> int:
    # Under srun (`--launcher slurm`) every task comes here: only the first cleans up.
    first = "LOCAL_RANK" not in os.environ and os.environ.get("SLURM_PROCID", "0") == "0"
    if "--fresh" in rest:
        if first:
            shutil.rmtree(work_dir, ignore_errors=True)
        rest = [a for a in rest if a != "--fresh"]
    os.makedirs(work_dir, exist_ok=True)
    nproc = int(os.environ.get("NPROC_PER_NODE", "1"))
    distributed = "--launcher" in rest or "LOCAL_RANK" in os.environ
    if (nproc > 1 or int(os.environ.get("NNODES", "1")) > 1) and not distributed:
        # XTuner's own multi-GPU variables, turned into torchrun the way `xtuner train` does;
        # each worker process comes back here with LOCAL_RANK set.
        import subprocess

        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               f"--nnodes={os.environ.get('NNODES', '1')}",
               f"--node_rank={os.environ.get('NODE_RANK', '0')}",
               f"--master_addr={os.environ.get('ADDR', '127.0.0.1')}",
               f"--master_port={os.environ.get('PORT', '29500')}",
               os.path.abspath(__file__), "train", config, work_dir, *rest,
               "--launcher", "pytorch"]
        print("[xtuner_launch] " + " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    if "--resume" in rest:
        # torch >= 2.6 loads checkpoints weights-only by default; mmengine's hold more.
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        print(f"[xtuner_launch] resuming from {rest[rest.index('--resume') + 1]}", flush=True)
    drop_short_warmup()
    code = run_module("xtuner.tools.train", [config, "--work-dir", work_dir, *rest])
    if code == 0 and newest_checkpoint(work_dir) is None:
        print("internpipe-error: XTuner finished without writing a checkpoint", flush=True)
        return 3
    return code


def cmd_export(config: str, work_dir: str, out_dir: str, adapter: str | None,
               base: str | None) -> int:
    pth = newest_checkpoint(work_dir)
    if pth is None:
        print(f"internpipe-error: no checkpoint in {work_dir} to convert", flush=True)
        return 3
    if adapter is None or base is None:   # full fine-tune: pth_to_hf writes the whole model
        return run_module("xtuner.tools.model_converters.pth_to_hf",
                          [config, pth, out_dir, "--safe-serialization", "--fp32"])
    code = run_module("xtuner.tools.model_converters.pth_to_hf",
                      [config, pth, adapter, "--safe-serialization"])
    if code != 0:
        return code
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return run_module("xtuner.tools.model_converters.merge",
                      [base, adapter, out_dir, "--device", device, "--safe-serialization"])


def option(rest: list[str], flag: str) -> str | None:
    return rest[rest.index(flag) + 1] if flag in rest else None


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    command, rest = args[0], args[1:]
    if command == "config":
        return cmd_config(rest[0], rest[1])
    if command == "train":
        cmd_config(rest[0], rest[1])
        return cmd_train(rest[1], rest[2], rest[3:])
    if command == "export":
        return cmd_export(rest[0], rest[1], rest[2], option(rest, "--adapter"),
                          option(rest, "--base"))
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
