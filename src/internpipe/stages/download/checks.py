"""download: what `check` finds before anything runs: a local source folder must be there.
Also where a model's local folder is, for the checks of later stages (quantize's group size
against the model's sizes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from internpipe import ggufinfo
from internpipe.errors import Problem
from internpipe.stages import Section
from internpipe.stages.base import resolve
from internpipe.stages.download.options import Options, is_gguf, parse_source


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    opts = section.options_as(Options)
    hub, where = parse_source(opts.source)
    if hub is not None:
        return []
    folder = resolve(recipe_dir, where)
    if is_gguf(opts):
        return _check_gguf(section, folder / opts.file if opts.file else folder)
    try:
        if stat.S_ISDIR(os.stat(folder).st_mode):
            return []
        why = "is not a folder"
    except FileNotFoundError:
        why = "does not exist"
    except OSError as exc:           # a name too long, a loop of links, …
        why = f"cannot be read ({exc.strerror})"
    return [section.problem(f"{folder} {why}: a local source is a model folder or a .gguf "
                            "file (or use modelscope:, openxlab:, hf:, wheel:)", "source")]


def _check_gguf(section: Section, path: Path) -> list[Problem]:
    """A local GGUF is read before anything runs: its header (milliseconds) says whether
    transformers can turn it into a model at all."""
    field = "file" if section.options_as(Options).file else "source"
    try:
        info = ggufinfo.read(path)
    except FileNotFoundError:
        return [section.problem(f"{path} does not exist", field)]
    except (ggufinfo.GGUFError, OSError) as exc:
        return [section.problem(str(exc), field)]
    return [section.problem(f"{path.name}: {why}", field) for why in info.problems()]


def local_model(section: Section, recipe_dir: Path) -> Path | None:
    """The local folder the model of `section` comes from: followed back through the stages
    it derives from (fine-tuning and quantizing keep a model's sizes) to a download of a
    local folder; None for a hub source (not there before the run)."""
    seen = 0
    while section.kind != "download":
        refs = section.inputs.get("model") or []
        if len(refs) != 1 or seen > 64:
            return None
        section, seen = refs[0], seen + 1
    opts = section.options_as(Options)
    hub, where = parse_source(opts.source)
    if hub or is_gguf(opts):       # not a folder before the run
        return None
    return resolve(recipe_dir, where) / (opts.file or "")
