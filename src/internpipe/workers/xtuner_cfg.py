"""The XTuner config of a fine-tune, made inside the XTuner env (stdlib + xtuner; never
imports internpipe), written as a Python config of literals that XTuner's own tools load
(`xtuner train xtuner_config.py`, mmengine's Config.fromfile), so a run can be repeated by
hand:

  internpipe's own   from spec.json (literal values only: no code from recipe strings)
  the user's own     `xtuner_config: my_copy.py` (e.g. from `xtuner copy-cfg`), loaded with
                     mmengine's Config, then the recipe's model and data (and the options the
                     recipe sets) patched in through the config API — never by editing text

Every `type` is written as a dotted import path (mmengine's registry resolves it) and every
other value as a literal; strings spell braces as escapes (see `literal_py`).
"""

import json
import keyword
import math
import os
from typing import Any

MAP_FNS = {"openai": "xtuner.dataset.map_fns.openai_map_fn",
           "alpaca": "xtuner.dataset.map_fns.alpaca_map_fn",
           "xtuner": None}
SAMPLE_MAX_NEW_TOKENS = 64     # the sample generations before, during and after training

# report_to → an mmengine visualizer backend, beside the LocalVisBackend that writes
# vis_data/scalars.json (the stage's loss curve). Trackers run offline here.
LOCAL_BACKEND = {"type": "mmengine.visualization.LocalVisBackend"}
TRACKERS: dict[str, dict[str, Any]] = {
    "tensorboard": {"type": "mmengine.visualization.TensorboardVisBackend"},
    "wandb": {"type": "mmengine.visualization.WandbVisBackend",
              "init_kwargs": {"mode": "offline"}},
    "swanlab": {"type": "swanlab.integration.mmengine.SwanlabVisBackend",
                "init_kwargs": {"mode": "local"}},
}


class ConfigRefused(Exception):
    """The user's config cannot be used as the recipe asks (exit 2 at `xtuner_config`)."""


def visualizer(report_to: str | None) -> dict[str, Any] | None:
    if not report_to:
        return None
    return {"type": "mmengine.visualization.Visualizer",
            "vis_backends": [dict(LOCAL_BACKEND), dict(TRACKERS[report_to])]}


# ------------------------------------------------------------------------ writing Python


def literal_py(value: Any, indent: str = "") -> str:
    """A Python literal whose strings spell every brace `\\x7b`/`\\x7d`. mmengine rewrites a
    config's text before running it: `{{$NAME:default}}` becomes an environment variable,
    `{{ fileDirname }}` the config's folder, `{{_base_.x}}` a base value. A string of the
    recipe (a sample prompt, a path) holding one must reach XTuner as written; escaped,
    the text matches nothing and Python reads the same string. (No brace of a dict literal
    is adjacent to another.)"""
    inner = indent + "    "
    if isinstance(value, str):
        return repr(value).replace("{", "\\x7b").replace("}", "\\x7d")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} has no literal")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{literal_py(str(k))}: {literal_py(v, inner)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]" if isinstance(value, list) else "()"
        body = "\n".join(f"{inner}{literal_py(v, inner)}," for v in value)
        return ("[\n" if isinstance(value, list) else "(\n") + body + "\n" + indent + \
            ("]" if isinstance(value, list) else ")")
    raise ValueError(f"a {type(value).__name__} has no literal")


def python_config(config: dict[str, Any], header: list[str]) -> str:
    # comments too: mmengine substitutes `{{…}}` anywhere in the text (and logs the value)
    lines = [f"# {line}".replace("{", "\\x7b").replace("}", "\\x7d") if line else "#"
             for line in header]
    for key, value in config.items():
        if not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"{key!r} cannot be a config variable")
        lines.append(f"{key} = {literal_py(value)}")
    return "\n".join(lines) + "\n"


def dotted(obj: Any) -> str | None:
    """A class, function or class method as the shortest import path that mmengine's
    registry resolves back to it (`xtuner.dataset.map_fns.template_map_fn_factory`: the
    full module path can name a function that shadows its module)."""
    import inspect

    if inspect.ismethod(obj) and inspect.isclass(obj.__self__):
        owner = obj.__self__
        module, name = owner.__module__, f"{owner.__qualname__}.{obj.__name__}"
    elif inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
        module, name = obj.__module__, obj.__qualname__
    else:
        return None
    from mmengine.utils import get_object_from_string

    parts = module.split(".")
    for n in range(1, len(parts) + 1):
        path = ".".join([*parts[:n], name])
        try:
            if get_object_from_string(path) == obj:
                return path
        except Exception:     # an import the path names fails: not this one
            continue
    return None


def to_literal(value: Any, where: str) -> Any:
    """A loaded config value as literals: callables → dotted paths, torch dtypes → names."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): to_literal(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [to_literal(v, f"{where}.{i}") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        return str(value).removeprefix("torch.")   # transformers reads "float16" as torch's
    path = dotted(value)
    if path is None:
        raise ConfigRefused(f"{where}: a {type(value).__name__} value cannot be kept in a "
                            "config of literals")
    return path


# ------------------------------------------------------------------- internpipe's config


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
    return {
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
        **runtime(spec, "nccl" if cuda else "gloo", visualizer(spec.get("report_to"))),
        "prompt_template": template,
    }


def runtime(spec: dict[str, Any], backend: str, vis: dict[str, Any] | None,
            **checkpoint: Any) -> dict[str, Any]:
    """mmengine's runtime part of a config (hooks, env, logging, seed), as the text and the
    vision-language fine-tunes both write it; `checkpoint`: more CheckpointHook options."""
    return {
        "default_hooks": {
            "timer": {"type": "mmengine.hooks.IterTimerHook"},
            "logger": {"type": "mmengine.hooks.LoggerHook", "log_metric_by_epoch": False,
                       "interval": spec["log_every"]},
            "param_scheduler": {"type": "mmengine.hooks.ParamSchedulerHook"},
            "checkpoint": {"type": "mmengine.hooks.CheckpointHook", "by_epoch": False,
                           "interval": spec["save_every"],
                           "max_keep_ckpts": spec["keep_checkpoints"], **checkpoint},
            "sampler_seed": {"type": "mmengine.hooks.DistSamplerSeedHook"}},
        "env_cfg": {"cudnn_benchmark": False,
                    "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
                    "dist_cfg": {"backend": backend}},
        "visualizer": vis, "log_level": "INFO", "load_from": None, "resume": False,
        "randomness": {"seed": spec["seed"], "deterministic": False},
        "log_processor": {"by_epoch": False},
    }


# ------------------------------------------------------------------------------- writing


def header(spec: dict[str, Any]) -> list[str]:
    source = spec.get("user_config")
    launch = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xtuner_launch.py")
    return [f"XTuner config of internpipe's finetune stage ({spec['method']}, model "
            f"{spec['model']})" if not source else
            f"{source}, loaded by mmengine and patched by internpipe (xtuner_patched.json)",
            "Every value is a literal; every `type` an import path. Repeat the run by hand "
            "in the XTuner env:",
            "    xtuner train xtuner_config.py --work-dir WORK_DIR",
            "Without CUDA, XTuner 0.2.0's own `xtuner train` fails (torch.cpu has no "
            "is_bf16_supported); there use internpipe's launcher, which fixes that first:",
            f"    python {launch} train-config xtuner_config.py WORK_DIR --fresh", ""]


def write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_config(spec_path: str, out_path: str) -> int:
    """Write the config the spec asks for; the user's own config refused → exit 2."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    if spec.get("user_config"):
        import user_xtuner_cfg  # type: ignore[import-not-found]

        try:
            config, patched = user_xtuner_cfg.load_and_patch(spec)
            text = python_config(config, header(spec))
        except (ConfigRefused, ValueError) as exc:
            print(f"internpipe-error: {spec['user_config']}: {exc}", flush=True)
            return 2
        write_atomic(os.path.join(os.path.dirname(out_path), "patched.json"),
                     json.dumps(patched, indent=1, ensure_ascii=False) + "\n")
        for line in patched["changes"]:
            print(f"internpipe: patched {line}", flush=True)
    else:
        text = python_config(make_config(spec), header(spec))
    write_atomic(out_path, text)
    print(f"wrote {out_path} ({spec['method']}, template {spec['template']})")
    return 0
