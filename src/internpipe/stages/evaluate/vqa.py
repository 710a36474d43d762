"""evaluate on image-question sets (`type: vqa`): vision-language models asked through their
served endpoints (deploy stages, `endpoints:`), scored by exact match or by the option they
choose. OpenCompass 0.5.4's OpenAI API models send text prompts only (no image parts), so a
small stdlib client runs instead (workers/vqa_eval.py); it writes the same summary CSV and
per-sample predictions, so the score table, its deltas against the base, and the report are
the same as for text sets.

A data file (JSONL or one JSON list; image paths relative to the file):
  {"image": "imgs/1.png", "question": "What colour is the square?", "answer": "yellow"}
  {"image": "imgs/2.png", "question": "Which dish?", "choices": ["noodles", "rice"],
   "answer": "B"}                        # metric choice: a letter or the choice's text
"""

from __future__ import annotations

import csv
import shutil
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from internpipe import scores
from internpipe.artifacts import ENDPOINT, ScoresArtifact
from internpipe.datafiles import Problems, json_records
from internpipe.errors import Problem, StageFailed, UserError
from internpipe.stages import Section, StageContext, Step, base
from internpipe.stages.base import resolve, shown
from internpipe.stages.evaluate.options import CustomDataset, Options, abbr, builtins, customs
from internpipe.stages.finetune.vlmdata import unreadable

WORKER = base.WORKERS / "vqa_eval.py"
VERSION = 1


def only(options: Options) -> bool:
    """Every dataset of the stage is an image-question set."""
    sets = customs(options)
    return bool(sets) and not builtins(options) and all(d.type == "vqa" for d in sets)


@dataclass
class VqaData:
    rows: int
    problems: list[Problem] = field(default_factory=list)


def _row_problem(row: Any, metric: str, folder: Path) -> str | None:
    if not isinstance(row, dict):
        return "expected a JSON object with image, question, answer"
    for key in ("image", "question", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            return f'"{key}" must be a non-empty string'
    if metric == "choice":
        choices = row.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or \
                not all(isinstance(c, str) for c in choices) or len(choices) > 26:
            return '"choices" must be a list of 2 to 26 strings (metric choice)'
        letters = string.ascii_uppercase[:len(choices)]
        answer = row["answer"].strip()
        if answer.upper() not in letters and answer not in choices:
            return f'"answer" must be one of the letters {letters} or one of the choices'
    path = folder / row["image"]
    if not path.is_file():
        return f"image {row['image']!r} not found (looked in {folder})"
    why = unreadable(path)
    return f"image {row['image']!r} cannot be opened: {why}" if why else None


def check_file(path: Path, metric: str, shown_as: str) -> VqaData:
    def run() -> VqaData:
        problems = Problems(shown_as)
        count = 0
        for n, row in json_records(path, problems):
            count += 1
            why = _row_problem(row, metric, path.parent)
            if why:
                problems.add(n, f"vqa: {why}")
        found = problems.as_list()
        if not count and not found:
            found.append(Problem(shown_as, 1, "", "the data file has no items"))
        return VqaData(count, found)
    # not cached: the images change without the data file (it reads their headers only)
    return run()


def metric(d: CustomDataset) -> str:
    return str(d.metric or "exact")


def check(section: Section, opts: Options, recipe_dir: Path) -> list[Problem]:
    """The image-question files, and what the stage may mix with them."""
    problems: list[Problem] = []
    sets = [(i, d) for i, d in enumerate(opts.datasets)
            if isinstance(d, CustomDataset) and d.type == "vqa"]
    if not sets:
        return problems
    if len(sets) != len(opts.datasets):
        problems.append(section.problem(
            "image-question sets (type vqa) are asked through served models, text datasets "
            "through OpenCompass: put them in two evaluate stages", "datasets"))
    for i, d in sets:
        path = resolve(recipe_dir, d.path)
        name = shown(path, recipe_dir)
        found = check_file(path, metric(d), name).problems
        problems += [p if p.line else section.problem(f"{name}: {p.message}", "datasets", i,
                                                      "path") for p in found]
    local = [s.name for s in section.inputs.get("models", []) if s.produces != ENDPOINT]
    if local:
        problems.append(section.problem(
            f"image-question sets are asked through a served model, and {', '.join(local)} "
            "is a model folder: name deploy stages in `models:` (or servers in "
            "`endpoints:`)", "models"))
    return problems


def spec(ctx: StageContext) -> dict[str, Any]:
    opts = ctx.options_as(Options)
    models = []
    for ref in ctx.inputs.get("models") or []:
        art = ref.endpoint()
        models.append({"abbr": ref.stage,
                       "base_url": str(art.get("base_url") or f"<base URL of {ref.stage}>"),
                       "model": str(art.get("model") or f"<model of {ref.stage}>"),
                       "api_key_env": art.get("api_key_env")})
    for i, ep in enumerate(opts.endpoints, start=1):
        models.append({"abbr": ep.name or f"endpoint{i}", "base_url": ep.url,
                       "model": ep.model, "api_key_env": ep.api_key_env})
    if not models:
        raise UserError(f"stage {ctx.name!r}: nothing to evaluate: name deploy stages in "
                        "`models:`, or servers in `endpoints:`")
    return {"models": models, "max_out_len": opts.max_out_len, "limit": opts.limit,
            "datasets": [{"abbr": abbr(d), "path": str(resolve(ctx.recipe_dir, d.path)),
                          "metric": metric(d), "prompt": d.prompt} for d in customs(opts)]}


def plan(ctx: StageContext) -> list[Step]:
    import json

    text = json.dumps(spec(ctx), indent=1, ensure_ascii=False)
    argv = [sys.executable, str(WORKER), str(ctx.work / "vqa.json"), str(ctx.work / "vqa")]
    return [Step("ask", argv, files={"vqa.json": text})]


def notes(ctx: StageContext) -> list[str]:
    opts = ctx.options_as(Options)
    n = sum(check_file(resolve(ctx.recipe_dir, d.path), metric(d), d.path).rows
            for d in customs(opts))
    return [f"{n} image questions asked through the served model(s)"
            + (f" (first {opts.limit} each)" if opts.limit else "")]


def collect(ctx: StageContext) -> ScoresArtifact:
    names = [m["abbr"] for m in spec(ctx)["models"]]
    summary = ctx.work / "vqa" / "summary.csv"
    if not summary.is_file():
        raise StageFailed(ctx.name, "the image-question run wrote no summary")
    with summary.open(newline="", encoding="utf-8") as f:
        table = scores.from_summary(list(csv.reader(f)), names)
    if table.missing():
        raise StageFailed(ctx.name, f"no score for {'; '.join(table.missing()[:5])}")
    shutil.copytree(ctx.work / "vqa" / "predictions", ctx.out / "predictions")
    scores.write(table, ctx.out / "scores.json", ctx.out / "scores.csv")
    return {"source": f"image questions to {', '.join(names)}", "models": names,
            "datasets": table.datasets, "scores": table.as_json(), "table": "scores.json",
            "csv": "scores.csv", "predictions": "predictions"}
