"""quantize: what `check` finds before anything runs: the device, calibration (a local file
read the way workers/quant_checks.py will read it) and, for AWQ, the group size against the
sizes of the model when it comes from a local folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from internpipe import modelkind
from internpipe.datafiles import Problems, checked_once, json_records, open_regular, read_text
from internpipe.errors import Problem
from internpipe.problems import suggest
from internpipe.stages import Section
from internpipe.stages.base import resolve, shown
from internpipe.stages.download.checks import local_model
from internpipe.stages.quantize.options import (
    DEFAULT_CALIB,
    LOCAL_ONLY_CALIB,
    NAMED_CALIB,
    Options,
    calib_dir,
    is_named,
    local_copy,
)

SIZES = ("hidden_size", "intermediate_size")
VERSION = 1        # of what the calibration check finds: bump when it changes (results are kept)


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    opts = section.options_as(Options)
    problems = []
    if opts.device == "cuda" and device != "cuda":
        problems.append(section.problem("device cuda asked for, but this run is on cpu",
                                        "device"))
    if (device if opts.device == "auto" else opts.device) != "cuda":
        problems += modelkind.refused(section, recipe_dir, (
            "quantize on cpu takes text models (LMDeploy's lite on CPU is tested with those "
            "only); quantize it with --device cuda, or serve it unquantized"))
    if opts.method == "smooth_quant" and opts.samples == 0:
        problems.append(section.problem(
            "smooth_quant needs calibration data (LMDeploy loads it even with 0 samples); "
            "set `calib:` to a local text/JSONL file, or `samples:` > 0 with a named set "
            "where the hub is reachable", "samples"))
    if opts.samples > 0 and is_named(opts.calib):
        problems += _named_calib_problems(section, opts.calib or DEFAULT_CALIB, recipe_dir)
    elif opts.calib is not None and not is_named(opts.calib):
        path = resolve(recipe_dir, opts.calib)
        if not _exists(path) and "/" not in opts.calib and not path.suffix:
            known = [*NAMED_CALIB, *LOCAL_ONLY_CALIB]
            problems.append(section.problem(
                f"{opts.calib!r} is neither a local file nor a named calibration set"
                f"{suggest(opts.calib, known)}; named sets: {', '.join(known)}", "calib"))
        else:
            problems += _calib_problems(section, path, recipe_dir)
    model = [local_model(s, recipe_dir) for s in section.inputs.get("model", [])]
    if opts.method == "awq" and model and model[0] is not None:
        why = group_size_problem(opts.group_size, model[0] / "config.json")
        if why:
            problems.append(section.problem(why, "group_size"))
    return problems


def _named_calib_problems(section: Section, name: str, recipe_dir: Path) -> list[Problem]:
    """A named set's local copy is read like a file; a set LMDeploy cannot fetch needs one."""
    copy = local_copy(name)
    if copy is not None:
        return _calib_problems(section, copy, recipe_dir)
    if name in LOCAL_ONLY_CALIB:
        return [section.problem(
            f"calibration set {name}: LMDeploy 0.18 no longer fetches it (the lesson's older "
            f"LMDeploy did). Put {LOCAL_ONLY_CALIB[name]} at {calib_dir() / (name + '.txt')} "
            "(internpipe stages it where LMDeploy reads it offline), or use `calib: wikitext2` "
            "(LMDeploy's default, from the hub) or a local text/JSONL file", "calib")]
    return []


def group_size_problem(group_size: int, config: Path) -> str | None:
    """Why AWQ cannot group the model's weights by `group_size` (it must divide the model's
    hidden and intermediate sizes), or None (also when config.json cannot be read)."""
    try:
        with open_regular(config) as f:
            cfg = json.loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    for key in SIZES if isinstance(cfg, dict) else ():
        size = cfg.get(key)
        if isinstance(size, int) and size > 0 and size % group_size:
            divisor = next(g for g in (128, 64, 32, 16, 8, 4, 2, 1)
                           if g <= group_size and size % g == 0)
            return (f"group_size {group_size} does not divide the model's {key} ({size}); "
                    f"use a divisor, e.g. {divisor}")
    return None


@dataclass
class Calib:
    """What a calibration file holds: whether it has text, and what is wrong in it."""

    texts: bool
    problems: list[Problem]


def _calib_problems(section: Section, path: Path, recipe_dir: Path) -> list[Problem]:
    name = shown(path, recipe_dir)
    found = checked_once(path, ("calib", VERSION, name), lambda: _calib(path, name), Calib)
    problems = [p if p.line else section.problem(f"{name}: {p.message}", "calib")
                for p in found.problems]
    if not problems and not found.texts:
        problems.append(section.problem(f"{name} holds no calibration text", "calib"))
    return problems


def _calib(path: Path, name: str) -> Calib:
    """The file read the way workers/quant_checks.py stages it: JSON lines or one JSON list
    (the same reader, workers/jsonstream.py), else plain text."""
    if path.suffix not in (".jsonl", ".json"):
        text, problems = read_text(path, name)
        return Calib(bool(text and text.strip()), problems)
    found, texts = Problems(name), False
    for n, item in json_records(path, found):
        has_text, why = _texts(item)
        if why:
            found.add(n, f"calibration: {why}")
        texts = texts or has_text
    return Calib(texts, found.as_list())


def _texts(item: Any) -> tuple[bool, str | None]:
    """(whether quant_checks.py takes text from this JSON line, why it would fail on it)."""
    if isinstance(item, str):
        return True, None
    if not isinstance(item, dict):
        return False, None                     # skipped there
    if isinstance(item.get("text"), str):
        return True, None
    for key in ("messages", "conversation"):   # their items are read with .get()
        value = item.get(key)
        if isinstance(value, list):
            ok = all(isinstance(m, dict) for m in value)
            return ok, None if ok else f'"{key}" must be a list of objects'
    return "instruction" in item, None


def _exists(path: Path) -> bool:
    """Whether the path is there; a name the system refuses (too long, …) is not."""
    try:
        return path.exists()
    except OSError:
        return False
