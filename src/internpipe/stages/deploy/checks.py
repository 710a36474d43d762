"""deploy: what `check` finds before anything runs: the engine against the device, options
the transformers engine cannot honour, tensor parallelism against the GPUs of a node, the
chat template against the one the model is trained with (template_lock.py)."""

from __future__ import annotations

from pathlib import Path

from internpipe import template_lock
from internpipe.errors import Problem
from internpipe.stages import Section
from internpipe.stages.deploy.options import Options, engine


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    opts = section.options_as(Options)
    eng = engine(opts, device)
    problems = []
    if eng == "lmdeploy" and device != "cuda":
        problems.append(section.problem(
            "LMDeploy serves on CUDA only (its engines take cuda/ascend/maca/camb devices); "
            "on cpu use `engine: transformers` or leave `engine: auto`", "engine"))
    if eng == "transformers":
        for option, why in (("api_key_env", "cannot enforce an API key"),
                            ("model_name", "serves the model under its folder path and "
                                           "cannot rename it")):
            if getattr(opts, option):
                problems.append(section.problem(
                    f"`{option}` is not supported by the transformers engine: it {why}; use "
                    "`engine: lmdeploy` on a CUDA machine, or remove the option", option))
        if opts.tp > 1:
            problems.append(section.problem("tp > 1 needs the lmdeploy engine", "tp"))
        if opts.quant_policy:
            problems.append(section.problem(
                f"quant_policy {opts.quant_policy} (LMDeploy's int{opts.quant_policy} KV "
                f"cache) changes the answers, and the transformers engine on {device} has no "
                "quantized KV cache; use `quant_policy: 0` here, or serve with LMDeploy on "
                "a CUDA machine (`device: cuda`)", "quant_policy"))
    elif "continuous_batching" in opts.model_fields_set and opts.continuous_batching:
        problems.append(section.problem(
            "`continuous_batching` is for the transformers engine; LMDeploy batches "
            "concurrent requests itself (`max_batch_size`)", "continuous_batching"))
    res = section.resources
    if res is not None and res.gpus_per_node and opts.tp > res.gpus_per_node:
        problems.append(section.problem(f"tp {opts.tp} does not fit the {res.gpus_per_node} "
                                        "GPUs of a node (resources.gpus_per_node)", "tp"))
    if opts.bench is not None and opts.bench.dataset is not None:
        problems += _bench_dataset(section, recipe_dir / opts.bench.dataset)
    return problems + template_lock.deploy_problems(section, opts.chat_template)


def _bench_dataset(section: Section, path: Path) -> list[Problem]:
    """The bench prompts: a regular file whose lines are prompts (workers/loadstats.py reads
    them the same way in the tool env)."""
    from internpipe.workers import loadstats

    if not path.is_file():       # a FIFO would block the read
        what = "not a regular file" if path.exists() else "no such file"
        return [section.problem(f"{what}: {path}", "bench", "dataset")]
    try:
        loadstats.read_dataset(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [section.problem(f"bench prompts: {exc}", "bench", "dataset")]
    return []
