"""finetune: what `check` finds before anything runs: every sample of every data file, the
method against the device, and the XTuner prompt template the model's chat template gives."""

from __future__ import annotations

from pathlib import Path

from internpipe import modelkind
from internpipe.errors import Problem
from internpipe.stages import Section
from internpipe.stages.base import resolve, shown
from internpipe.stages.finetune import data
from internpipe.stages.finetune.options import CONFIG_OWNS, Options
from internpipe.stages.finetune.templates import XTUNER_TEMPLATES, for_chat_template
from internpipe.template_lock import declared_chat_template


def data_files(options: Options, recipe_dir: Path) -> list[Path]:
    files = options.data if isinstance(options.data, list) else [options.data]
    return [resolve(recipe_dir, d) for d in files]


def image_root(options: Options, recipe_dir: Path) -> Path | None:
    return resolve(recipe_dir, options.image_folder) if options.image_folder else None


def check_data(section: Section, recipe_dir: Path) -> tuple[list[data.Checked],
                                                             list[Problem]]:
    """(what each file holds, problems): a file that cannot be read at the recipe's `data`,
    a bad sample at its own file:line, files in different formats at `data`."""
    opts = section.options_as(Options)
    checked, problems = [], []
    for i, path in enumerate(data_files(opts, recipe_dir)):
        where = ("data", i) if isinstance(opts.data, list) else ("data",)
        name = shown(path, recipe_dir)
        found = data.check_file(path, opts.format, name, image_root(opts, recipe_dir))
        checked.append(found)
        problems += [p if p.line else section.problem(f"{name}: {p.message}", *where)
                     for p in found.problems]
    formats = {c.format for c in checked if c.format}
    if len(formats) > 1 and not problems:
        named = ", ".join(f"{shown(p, recipe_dir)}: {c.format}"
                          for p, c in zip(data_files(opts, recipe_dir), checked, strict=True))
        problems.append(section.problem(f"the data files are in different formats ({named}); "
                                        "XTuner trains on one format per stage", "data"))
    return checked, problems


def _kind_problems(section: Section, opts: Options, recipe_dir: Path,
                   device: str) -> list[Problem]:
    """A vision-language model trains on llava data, on CUDA; a text model on text data."""
    kind = modelkind.of_section(section, recipe_dir)
    if kind == modelkind.VISION and opts.format not in (None, data.VISION):
        return [section.problem(f"a vision-language model is fine-tuned on image-question "
                                f"data (format llava), not {opts.format}", "format")]
    if kind == modelkind.TEXT and opts.format == data.VISION:
        return [section.problem("llava data (images) trains a vision-language model, and "
                                "this stage's model is a text model", "format")]
    if kind == modelkind.VISION and not modelkind.is_internvl(section, recipe_dir):
        return modelkind.refused(section, recipe_dir, (
            "XTuner 0.2.0 fine-tunes InternVL-Chat models only (its InternVL path); this one "
            "is another architecture"))
    if kind == modelkind.VISION and device != "cuda":
        return modelkind.refused(section, recipe_dir, (
            "XTuner 0.2.0 fine-tunes one through its InternVL path, which needs CUDA and the "
            "model's own code from the hub (trust_remote_code): run with --device cuda on a "
            "GPU machine (`internpipe plan --device cuda` shows the commands here)"))
    return []


def check_user_config(section: Section, recipe_dir: Path) -> list[Problem]:
    """`xtuner_config:` a readable Python file (mmengine loads it in the XTuner env at run
    time; a config it cannot load is refused there, at this line too), and no option the
    config owns set in the recipe as well."""
    import ast

    opts = section.options_as(Options)
    if opts.xtuner_config is None:
        return []
    path = resolve(recipe_dir, opts.xtuner_config)
    problems = [section.problem(f"`{name}` is your XTuner config's to set (xtuner_config: "
                                f"{opts.xtuner_config}); set it there", name)
                for name in CONFIG_OWNS if name in opts.model_fields_set]
    if path.suffix != ".py":
        return [*problems, section.problem(f"{opts.xtuner_config}: an XTuner config is a .py "
                                           "file (e.g. from `xtuner copy-cfg`)", "xtuner_config")]
    try:
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        problems.append(section.problem(f"{opts.xtuner_config}:{exc.lineno}: {exc.msg}",
                                        "xtuner_config"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problems.append(section.problem(f"{opts.xtuner_config}: {exc}", "xtuner_config"))
    return problems


TRACKER_PACKAGES = {"wandb": "wandb", "swanlab": "swanlab"}


def check_tracker(section: Section, device: str) -> list[Problem]:
    """report_to wandb / swanlab needs its package in the XTuner env (TensorBoard ships)."""
    from internpipe import envs

    opts = section.options_as(Options)
    package = TRACKER_PACKAGES.get(opts.report_to or "")
    if package is None or "xtuner" in section.interpreters:
        return []
    flavour = "cuda" if device == "cuda" else "cpu"
    lock = (envs.SPECS / "xtuner" / f"{flavour}.lock.txt").read_text().splitlines()
    if any(line.startswith(f"{package}==") for line in lock):
        return []
    return [section.problem(
        f"report_to {opts.report_to} needs the `{package}` package, which internpipe's XTuner "
        f"env does not ship (tensorboard does): add `{package}` to "
        f"src/internpipe/envspecs/xtuner/requirements.{flavour}.in and run "
        f"`scripts/lock-envs.py xtuner`, or name a Python with xtuner and {package} in the "
        f"recipe's `interpreters: {{xtuner: PATH}}`", "report_to")]


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    opts = section.options_as(Options)
    problems = check_user_config(section, recipe_dir) + check_tracker(section, device)
    if device != "cuda" and opts.method == "qlora":
        problems.append(section.problem(
            "method qlora needs CUDA (4-bit bitsandbytes), and this run is on cpu; use "
            "method lora or full, or run with --device cuda on a GPU machine", "method"))
    if device != "cuda" and opts.deepspeed:
        problems.append(section.problem(f"deepspeed {opts.deepspeed} needs CUDA; remove "
                                        "`deepspeed:` to train on cpu", "deepspeed"))
    problems += _kind_problems(section, opts, recipe_dir, device)
    # a user's XTuner config has its own template, and so has XTuner's InternVL path
    if opts.template is None and opts.xtuner_config is None and opts.format != data.VISION:
        chat = declared_chat_template(section)
        if for_chat_template(chat) not in XTUNER_TEMPLATES:
            problems.append(section.problem(
                f"the model's chat template {chat!r} has no XTuner prompt template; set "
                "`template:` (one of XTuner's, e.g. internlm2_chat, qwen_chat)"))
    return problems + check_data(section, recipe_dir)[1]
