"""evaluate: the checks made before OpenCompass launches: every row of the custom data files
and the columns their prompts name, each named dataset's config and staged data (read from
the installed OpenCompass without importing it, once its env is built), and the backend
against the device. Problems are exit 2 with file:line."""

from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

from internpipe import modelkind
from internpipe.artifacts import MODEL
from internpipe.errors import Problem
from internpipe.stages import InputRef, Section, StageContext
from internpipe.stages.base import resolve, shown
from internpipe.stages.evaluate import data, datasets, vqa
from internpipe.stages.evaluate.options import (
    CustomDataset,
    Options,
    abbr,
    backend,
    customs,
)

# A chat model cannot score PPL datasets (OpenCompass needs a base model for them).
PPL = re.compile(r"_ppl(_|$)")


def data_dir(options: Options, recipe_dir: Path) -> Path:
    if options.data_dir:
        return resolve(recipe_dir, options.data_dir)
    cache = os.environ.get("COMPASS_DATA_CACHE")
    return Path(cache).expanduser().resolve() if cache else \
        Path.home() / ".cache" / "opencompass"


def model_refs(ctx: StageContext) -> list[InputRef]:
    return list(ctx.inputs.get("models") or [])


def custom_items(options: Options, recipe_dir: Path) -> int:
    """How many items the custom files hold (their checks are cached: no second read)."""
    return sum(checked(d, recipe_dir).rows for d in customs(options) if d.type != "vqa")


def checked(d: CustomDataset, recipe_dir: Path) -> data.EvalData:
    path = resolve(recipe_dir, d.path)
    return data.check_file(path, d.type, shown(path, recipe_dir))


def staged_path(work: Path, d: CustomDataset, recipe_dir: Path) -> Path | None:
    """Where the stage writes the qa rows of a file OpenCompass cannot read as it is (a JSON
    list, fine-tuning records); None for a file it reads in place."""
    return work / "data" / f"{abbr(d)}.jsonl" if checked(d, recipe_dir).staged else None


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    opts = section.options_as(Options)
    problems = []
    if backend(opts, device) == "lmdeploy" and device != "cuda":
        problems.append(section.problem(
            "OpenCompass's lmdeploy backend (TurboMind) needs CUDA; on cpu use "
            "`backend: huggingface` or leave `auto`", "backend"))
    res = section.resources
    if res is not None and res.launcher == "slurm" and not (res.slurm and res.slurm.partition):
        problems.append(section.problem("OpenCompass's Slurm runner needs a partition: set "
                                        "resources.slurm.partition", "resources"))
    problems += _custom_problems(section, opts, recipe_dir)
    vision = [s.name for s in section.inputs.get("models", []) if s.produces == MODEL
              and modelkind.of_section(s, recipe_dir) == modelkind.VISION]
    if vision and not vqa.only(opts):
        problems.append(section.problem(
            f"{', '.join(vision)} is a vision-language model, which OpenCompass's text "
            "models cannot load: serve it (a deploy stage) and ask it an image-question set "
            "(`type: vqa`) through `models: [deploy]`", "models"))
    pkg = _opencompass(section, device)
    if pkg is not None:
        has_models = any(s.produces == MODEL for s in section.inputs.get("models", []))
        where = data_dir(opts, recipe_dir)
        for i, item in enumerate(opts.datasets):
            if isinstance(item, str):
                found = builtin_problem(pkg, item, where, has_models, _source(opts),
                                        data_source())
                if found:
                    problems += [section.problem(found[0], "datasets", i), *found[1]]
    return problems


def _custom_problems(section: Section, opts: Options, recipe_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, d in enumerate(opts.datasets):
        if not isinstance(d, CustomDataset):
            continue
        if abbr(d) in seen:
            problems.append(section.problem(f"two datasets are named {abbr(d)!r}; give one "
                                            "a `name:`", "datasets", i))
        seen.add(abbr(d))
        if d.type == "vqa":               # checked by stages/evaluate/vqa.py
            continue
        path = resolve(recipe_dir, d.path)
        name = shown(path, recipe_dir)
        checked = data.check_file(path, d.type, name)
        found, columns = checked.problems, checked.columns
        problems += [p if p.line else section.problem(f"{name}: {p.message}", "datasets", i,
                                                      "path") for p in found]
        unknown = [f for f in data.prompt_fields(d.prompt) if f not in columns] \
            if d.prompt and columns else []
        if unknown:
            problems.append(section.problem(
                f"{{{unknown[0]}}} is not an input column of {name} (columns: "
                f"{', '.join(columns)})", "datasets", i, "prompt"))
    return problems + vqa.check(section, opts, recipe_dir)


def _opencompass(section: Section, device: str) -> Path | None:
    """The opencompass package of the stage's env when it is built (else None: its dataset
    names are checked when the run has built it)."""
    if not any(isinstance(d, str) for d in section.options_as(Options).datasets):
        return None
    from internpipe import envs

    env = envs.env_for("opencompass", device, section.interpreters)
    return datasets.package_dir(env.python) if envs.quick_check(env) is None else None


def data_source() -> str:
    """Where the data of a named dataset that is not staged comes from: ModelScope where the
    user prefers it (OpenCompass's own DATASET_SOURCE=ModelScope: OpenCompass loads it),
    else OpenCompass's archive (fetched by workers/compass_fetch.py before the run)."""
    return "modelscope" if os.environ.get("DATASET_SOURCE") == "ModelScope" else "archive"


def fetchable(missing: list[datasets.Missing], source: str) -> bool:
    return bool(missing) and all(m.modelscope if source == "modelscope" else m.url
                                 for m in missing)


def _source(opts: Options) -> str:
    return "data_dir" if opts.data_dir else (
        "$COMPASS_DATA_CACHE" if os.environ.get("COMPASS_DATA_CACHE") else "the default")


@functools.cache
def builtin_problem(pkg: Path, name: str, where: Path, has_models: bool,
                    source: str, fetch: str = "archive") -> tuple[str, list[Problem]] | None:
    """Why OpenCompass cannot evaluate the named dataset here (and the details), or None: it
    must be a config of the installed OpenCompass, a generation (not PPL) one for chat
    models, with a `*_datasets` list, and its data staged under `where` or to be fetched
    (`fetch`: from OpenCompass's archive, or ModelScope)."""
    config = datasets.find_config(pkg, name)
    if config is None:
        close = difflib.get_close_matches(name, datasets.config_names(pkg), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"{name!r} is neither a data file nor an OpenCompass dataset config{hint} "
                "(custom data: {path: FILE, type: qa|mcq})", [])
    if PPL.search(name) and has_models:
        return (f"{name} is a perplexity (PPL) dataset, which OpenCompass scores with base "
                "models only, and internpipe evaluates chat models; use its _gen variant", [])
    if not datasets.dataset_lists(config):
        return f"OpenCompass config {name} defines no *_datasets list", []
    missing = datasets.missing_data(pkg, config, where)
    if not missing or fetchable(missing, fetch):
        return None
    first = missing[0]
    how = (f"unzip OpenCompass's archive {first.url} into {where / 'data'}"
           if first.url else f"copy the dataset to {first.expected}")
    nowhere = ("OpenCompass cannot load it from ModelScope (no ms_id) either"
               if fetch == "modelscope" else "OpenCompass has no archive of it to fetch")
    return (f"the data of OpenCompass dataset {name} is not staged, and {nowhere}. "
            f"OpenCompass reads it from {first.expected} (COMPASS_DATA_CACHE = {where}, from "
            f"{source}). Stage it: {how}; or point "
            "`data_dir:` (or $COMPASS_DATA_CACHE) at a folder that has it",
            [Problem(name, None, "path", f"{m.path} → {m.expected}") for m in missing])


def check_builtins(ctx: StageContext) -> None:
    """At run time, once the env is built: the named datasets again (cached when `check`
    already saw them)."""
    opts = ctx.options_as(Options)
    pkg = datasets.package_dir(ctx.python)
    if pkg is None:
        return
    has_models = any(r.produces == MODEL for r in model_refs(ctx))
    for i, item in enumerate(opts.datasets):
        if isinstance(item, str):
            found = builtin_problem(pkg, item, data_dir(opts, ctx.recipe_dir), has_models,
                                    _source(opts), data_source())
            if found:
                error = ctx.refuse(found[0], "datasets", i)
                error.problems += found[1]
                raise error


def to_fetch(ctx: StageContext) -> list[str]:
    """The data paths (as OpenCompass joins them) of the named datasets that are not staged
    and will be fetched from OpenCompass's archives before the run."""
    opts = ctx.options_as(Options)
    pkg = datasets.package_dir(ctx.python)
    if pkg is None or data_source() != "archive":
        return []
    where = data_dir(opts, ctx.recipe_dir)
    paths: list[str] = []
    for item in opts.datasets:
        config = datasets.find_config(pkg, item) if isinstance(item, str) else None
        if config is not None:
            paths += [m.joined for m in datasets.missing_data(pkg, config, where)
                      if m.joined not in paths]
    return paths
