"""A user's own XTuner `.py` config (`finetune.xtuner_config:`), loaded with mmengine's Config
inside the XTuner env and patched through its API (ConfigDict items, never the text): the
recipe's model and data, the options the recipe itself sets, a tracker, and what a CPU
needs. stdlib + xtuner; never imports internpipe. `load_and_patch` returns the config as
literals (xtuner_cfg.to_literal) and what it changed."""

import inspect
from typing import Any

from xtuner_cfg import (  # type: ignore[import-not-found]
    LOCAL_BACKEND,
    MAP_FNS,
    SAMPLE_MAX_NEW_TOKENS,
    TRACKERS,
    ConfigRefused,
    to_literal,
    visualizer,
)

# Recipe options the stage patches in when the recipe sets them, and where they go.
SETTABLE = {"epochs": "train_cfg.max_epochs", "lr": "optim_wrapper.optimizer.lr",
            "batch_size": "train_dataloader.batch_size",
            "grad_accum": "optim_wrapper.accumulative_counts",
            "max_length": "train_dataloader.dataset.max_length",
            "pack": "train_dataloader.dataset.pack_to_max_length", "seed": "randomness.seed",
            "save_every": "default_hooks.checkpoint.interval",
            "keep_checkpoints": "default_hooks.checkpoint.max_keep_ckpts",
            "log_every": "default_hooks.logger.interval"}
# XTuner's own configs name their settings at the top too (`max_epochs = 3`): kept in step.
SETTING_NAMES = {"epochs": "max_epochs", "lr": "lr", "batch_size": "batch_size",
                 "grad_accum": "accumulative_counts", "max_length": "max_length",
                 "pack": "pack_to_max_length", "save_every": "save_steps",
                 "keep_checkpoints": "save_total_limit"}
CHAT_HOOK = "EvaluateChatHook"


class Patcher:
    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.changes: list[str] = []

    def parent(self, key: str) -> tuple[Any, Any]:
        node = self.cfg
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.get(part)
            if node is None:
                raise ConfigRefused(f"it has no `{key.rsplit('.', 1)[0]}` (needed to set "
                                    f"{key})")
        last = parts[-1]
        return node, (int(last) if isinstance(node, list) else last)

    def get(self, key: str) -> Any:
        node, last = self.parent(key)
        return node[last] if isinstance(node, list) else node.get(last)

    def put(self, key: str, value: Any, why: str = "") -> None:
        node, last = self.parent(key)
        old = node[last] if isinstance(node, list) else node.get(last)
        if old == value:
            return
        node[last] = value
        self.changes.append(f"{key}: {short(old)} → {short(value)}" + (f" ({why})" if why
                                                                       else ""))

    def drop(self, key: str, why: str) -> None:
        node, last = self.parent(key)
        if isinstance(node, dict) and last in node:
            del node[last]
            self.changes.append(f"{key}: removed ({why})")


def short(value: Any) -> str:
    text = repr(to_literal(value, "?"))
    return text if len(text) <= 160 else text[:157] + "…"


def paths_of(value: Any, name: str, where: str = "") -> list[str]:
    """Every dotted key path in the config whose last part is `name`."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{where}.{k}" if where else str(k)
            if k == name:
                found.append(here)
            found += paths_of(v, name, here)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found += paths_of(v, name, f"{where}.{i}")
    return found


def hooks_of(cfg: Any, name: str) -> list[str]:
    hooks = cfg.get("custom_hooks") or []
    return [f"custom_hooks.{i}" for i, h in enumerate(hooks)
            if isinstance(h, dict) and name in str(h.get("type"))]


def patch_model_and_data(p: Patcher, spec: dict[str, Any]) -> None:
    for key in paths_of(dict(p.cfg.items()), "pretrained_model_name_or_path"):
        p.put(key, spec["model"], "the recipe's model")
    dataset = p.cfg.get("train_dataloader", {}).get("dataset")
    if not isinstance(dataset, dict) or "dataset" not in dataset:
        raise ConfigRefused("its train_dataloader.dataset has no `dataset` to point at the "
                            "recipe's data (internpipe patches configs built on "
                            "xtuner.dataset.process_hf_dataset, as XTuner's own are)")
    # The same dataset under its own name (XTuner's configs: `alpaca_en = dict(…)`)
    aliases = [k for k, v in p.cfg.items() if k != "train_dataloader" and v == dataset]
    p.put("train_dataloader.dataset.dataset",
          {"type": "datasets.load_dataset", "path": "json", "data_files": spec["data"]},
          "the recipe's data")
    p.put("train_dataloader.dataset.dataset_map_fn", MAP_FNS[spec["format"]],
          f"the data's format, {spec['format']}")
    if "map_num_proc" not in dataset:
        p.put("train_dataloader.dataset.map_num_proc", spec["map_num_proc"],
              "XTuner's default is 32 processes")
    for alias in aliases:
        p.put(alias, p.get("train_dataloader.dataset"), "= train_dataloader.dataset")


def patch_recipe_options(p: Patcher, spec: dict[str, Any]) -> None:
    for option, value in spec["set"].items():
        if option == "template":
            from xtuner.utils import PROMPT_TEMPLATE

            template = dict(PROMPT_TEMPLATE[value])
            p.put("train_dataloader.dataset.template_map_fn.template", template,
                  f"the recipe's template {value}")
            for hook in hooks_of(p.cfg, CHAT_HOOK):
                p.put(f"{hook}.prompt_template", template, f"the recipe's template {value}")
            continue
        if option == "epochs":
            old = p.get("train_cfg.max_epochs")
            if isinstance(old, int | float) and old > 0:   # the schedule follows the epochs
                for i, s in enumerate(p.cfg.get("param_scheduler") or []):
                    for end in ("begin", "end"):
                        if isinstance(s.get(end), int | float) and s.get("by_epoch", True):
                            p.put(f"param_scheduler.{i}.{end}", s[end] * value / old,
                                  "scaled to the recipe's epochs")
        p.put(SETTABLE[option], value, f"the recipe's {option}")
        name = SETTING_NAMES.get(option)
        if name is not None and name in p.cfg and isinstance(p.cfg.get(name), bool | int | float):
            p.put(name, value, f"the recipe's {option}")


def patch_for_cpu(p: Patcher) -> None:
    llm = p.cfg.get("model", {}).get("llm", {})
    if "quantization_config" in llm:
        p.drop("model.llm.quantization_config",
               "4-bit bitsandbytes needs CUDA: QLoRA trains as LoRA on cpu")
    if "torch_dtype" in llm:
        p.put("model.llm.torch_dtype", "float32", "cpu trains in fp32")
    optim = p.cfg.get("optim_wrapper", {})
    if "AmpOptimWrapper" in str(optim.get("type")):
        p.put("optim_wrapper.type", "mmengine.optim.OptimWrapper", "AMP needs CUDA")
        for key in ("loss_scale", "dtype"):
            p.drop(f"optim_wrapper.{key}", "AMP needs CUDA")
    if p.cfg.get("env_cfg", {}).get("dist_cfg", {}).get("backend") == "nccl":
        p.put("env_cfg.dist_cfg.backend", "gloo", "nccl needs CUDA")
    for hook in hooks_of(p.cfg, CHAT_HOOK):
        if p.get(f"{hook}.max_new_tokens") is None:
            p.put(f"{hook}.max_new_tokens", SAMPLE_MAX_NEW_TOKENS,
                  "XTuner's default, 600 a prompt, takes minutes on a cpu")


def patch_tracker(p: Patcher, report_to: str | None) -> None:
    """report_to's backend; and mmengine's LocalVisBackend in any visualizer the config has
    (its vis_data/scalars.json is the stage's loss curve)."""
    current = p.cfg.get("visualizer")
    if not current:
        if report_to:
            p.put("visualizer", visualizer(report_to), f"report_to: {report_to}")
        return
    backends = list(current.get("vis_backends") or [])
    wanted = [] if any("LocalVisBackend" in str(b.get("type")) for b in backends) else \
        [dict(LOCAL_BACKEND)]
    if report_to and not any(report_to.lower() in str(b.get("type")).lower()
                             for b in backends):
        wanted.append(dict(TRACKERS[report_to]))
    if wanted:
        p.put("visualizer.vis_backends", [*backends, *wanted],
              "+ " + ", ".join(str(w["type"]).rsplit(".", 1)[-1] for w in wanted))


def method_and_template(cfg: Any) -> tuple[str, str | None]:
    from xtuner.utils import PROMPT_TEMPLATE

    model = cfg.get("model", {})
    method = "full" if not model.get("lora") else \
        "qlora" if "quantization_config" in model.get("llm", {}) else "lora"
    used = cfg.get("train_dataloader", {}).get("dataset", {}).get("template_map_fn", {}) \
        .get("template")
    names = [k for k, v in PROMPT_TEMPLATE.items() if used is not None and dict(v) == used]
    return method, names[0] if names else None


def imported_names(path: str) -> set[str]:
    """The names the config's own import statements bind (PROMPT_TEMPLATE, …): its values
    that are not settings."""
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {(a.asname or a.name).split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}


def load_and_patch(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return _load_and_patch(spec)
    except ConfigRefused:
        raise
    except Exception as exc:
        # The user's own code: mmengine imports a config's modules lazily, so what it
        # raises may surface only when a value is read. Whatever it is, theirs to fix.
        raise ConfigRefused(f"mmengine cannot load it: {type(exc).__name__}: {exc}") from exc


def _load_and_patch(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from mmengine.config import Config

    cfg = Config.fromfile(spec["user_config"])
    p = Patcher(cfg)
    method, template = method_and_template(cfg)
    patch_model_and_data(p, spec)
    patch_recipe_options(p, spec)
    if spec["device"] != "cuda":
        patch_for_cpu(p)
    patch_tracker(p, spec.get("report_to"))
    if method == "qlora" and spec["device"] != "cuda":
        method = "lora"
    imported = imported_names(spec["user_config"])
    literal = {}
    for key, value in cfg.items():
        if key in imported or inspect.ismodule(value) or inspect.isclass(value) or \
                callable(value):
            continue                      # the config's imports (and names bound to them)
        literal[key] = to_literal(value, key)
    return literal, {"config": spec["user_config"], "method": method,
                     "template": spec["set"].get("template") or template,
                     "changes": p.changes}
