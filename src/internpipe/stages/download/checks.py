"""download: what `check` finds before anything runs: a local source folder must be there.
Also where a model's local folder is, for the checks of later stages (quantize's group size
against the model's sizes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from internpipe.errors import Problem
from internpipe.stages import Section
from internpipe.stages.base import resolve
from internpipe.stages.download.options import Options, parse_source


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    hub, where = parse_source(section.options_as(Options).source)
    if hub is not None:
        return []
    folder = resolve(recipe_dir, where)
    try:
        if stat.S_ISDIR(os.stat(folder).st_mode):
            return []
        why = "is not a folder"
    except FileNotFoundError:
        why = "does not exist"
    except OSError as exc:           # a name too long, a loop of links, …
        why = f"cannot be read ({exc.strerror})"
    return [section.problem(f"{folder} {why}: a local source is a model folder (or use "
                            "modelscope:, openxlab:, hf:)", "source")]


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
    hub, where = parse_source(section.options_as(Options).source)
    return None if hub else resolve(recipe_dir, where)
