"""evaluate: the checks made before OpenCompass launches: every row of the custom data
files, and each named dataset's config and staged data (read from the installed OpenCompass
without importing it). Problems are exit 2 with file:line."""

from __future__ import annotations

import os
import re
from pathlib import Path

from internpipe.artifacts import MODEL
from internpipe.errors import Problem, RecipeError, UserError
from internpipe.stages import InputRef, StageContext
from internpipe.stages.base import resolve, shown
from internpipe.stages.evaluate import data, datasets
from internpipe.stages.evaluate.options import Options, abbr, builtins, customs

# A chat model cannot score PPL datasets (OpenCompass needs a base model for them).
PPL = re.compile(r"_ppl(_|$)")


def data_dir(options: Options, recipe_dir: Path) -> Path:
    if options.data_dir:
        return resolve(recipe_dir, options.data_dir)
    cache = os.environ.get("COMPASS_DATA_CACHE")
    return Path(cache).expanduser().resolve() if cache else \
        Path.home() / ".cache" / "opencompass"


def check_custom(ctx: StageContext) -> int:
    """Every row of every custom file; the total. Problems: exit 2, file:line."""
    opts = ctx.options_as(Options)
    total, problems, seen = 0, [], set()
    for d in customs(opts):
        path = resolve(ctx.recipe_dir, d.path)
        count, found = data.check_file(path, d.type, shown(path, ctx.recipe_dir),
                                           d.prompt)
        total += count
        problems += found
        if abbr(d) in seen:
            problems.append(Problem(shown(path, ctx.recipe_dir), None, "name",
                                    f"two datasets are named {abbr(d)!r}; give one a "
                                    "`name:`"))
        seen.add(abbr(d))
    if problems:
        raise RecipeError(problems)
    return total


def check_builtins(ctx: StageContext) -> bool:
    """Each named dataset must be an OpenCompass config whose data is staged. False when the
    OpenCompass env is not there yet to look in (checked again before launch)."""
    opts = ctx.options_as(Options)
    names = builtins(opts)
    if not names:
        return True
    pkg = datasets.package_dir(ctx.python)
    if pkg is None:
        return False
    where = data_dir(opts, ctx.recipe_dir)
    for name in names:
        config = datasets.find_config(pkg, name)
        if config is None:
            import difflib

            close = difflib.get_close_matches(name, datasets.config_names(pkg), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"stage {ctx.name!r}: {name!r} is neither a data file nor an "
                            f"OpenCompass dataset config{hint} (custom data: "
                            "{path: FILE, type: qa|mcq})")
        if PPL.search(name) and any(r.produces == MODEL for r in model_refs(ctx)):
            raise UserError(f"stage {ctx.name!r}: {name} is a perplexity (PPL) dataset, which "
                            "OpenCompass scores with base models only, and internpipe "
                            "evaluates chat models; use its _gen variant")
        if not datasets.dataset_lists(config):
            raise UserError(f"stage {ctx.name!r}: OpenCompass config {name} defines no "
                            "*_datasets list")
        missing = datasets.missing_data(pkg, config, where)
        if missing:
            first = missing[0]
            how = (f"unzip OpenCompass's archive {first.url} into {where / 'data'}"
                   if first.url else f"copy the dataset to {first.expected}")
            source = "data_dir" if opts.data_dir else (
                "$COMPASS_DATA_CACHE" if os.environ.get("COMPASS_DATA_CACHE") else
                "the default")
            raise UserError(
                f"stage {ctx.name!r}: the data of OpenCompass dataset {name} is not staged. "
                f"OpenCompass reads it from {first.expected} (COMPASS_DATA_CACHE = {where}, "
                f"from {source}) and would try to download it, which cannot work offline. "
                f"Stage it: {how}; or point `data_dir:` (or $COMPASS_DATA_CACHE) at a "
                "folder that has it",
                [Problem(name, None, "path", f"{m.path} → {m.expected}") for m in missing])
    return True


def model_refs(ctx: StageContext) -> list[InputRef]:
    return list(ctx.inputs.get("models") or [])
