from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from internpipe import pipeline
from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    guard,
    run_from_arguments,
    run_recipe,
    sigterm_as_interrupt,
)


def _stage_name(source: str, taken: set[str]) -> str:
    """A readable stage name (the model's column in the table) from a folder or hub id."""
    stem = re.sub(r"[^a-z0-9_-]+", "_", source.rstrip("/").rsplit("/", 1)[-1].lower())
    stem = stem.strip("_-") or "model"
    name = stem if stem[0].isalpha() else f"m{stem}"
    name = name[:56]
    candidate, i = name, 2
    while candidate in taken or candidate == "evaluate":
        candidate, i = f"{name}_{i}", i + 1
    taken.add(candidate)
    return candidate


def _dataset(value: str, kind: str, metric: str | None, cwd: Path) -> Any:
    head, _, suffix = value.rpartition(":")
    if head and suffix in ("qa", "mcq"):
        value, kind = head, suffix             # FILE:TYPE, for files of different types
    path = Path(value)
    if path.suffix in (".jsonl", ".csv") or path.exists():
        entry: dict[str, Any] = {"path": str(path if path.is_absolute() else cwd / path),
                                 "type": kind}
        if metric:
            entry["metric"] = metric
        return entry
    return value


def command(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[RECIPE | MODEL…]", help="A recipe (runs it up to its evaluate stage), or "
        "model folders / hub sources to compare; the first is the base.",
        show_default=False)] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", "-d", "--datasets", metavar="FILE[:TYPE]|NAME",
        help="A .jsonl/.csv file (FILE:mcq gives its type), or an OpenCompass dataset config "
        "name such as gsm8k_gen (repeatable; --datasets as in OpenCompass's run.py).",
        show_default=False)] = None,
    kind: Annotated[Literal["qa", "mcq"], typer.Option(
        "--type", help="The type of the data files.")
                    ] = "qa",
    metric: Annotated[str | None, typer.Option("--metric", help="qa: rouge | rouge_zh | "
                                               "contains | bleu | exact; mcq: option | exact.",
                                               show_default=False)
                      ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N items of "
                                              "each dataset.", show_default=False)] = None,
    data_dir: Annotated[str | None, typer.Option(
        "--data-dir", help="Where built-in datasets' data is (default: $COMPASS_DATA_CACHE).",
        show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", metavar="URL", help="Evaluate a running OpenAI-compatible server.",
        show_default=False)] = None,
    model_name: Annotated[str | None, typer.Option(
        "--model-name", help="The model name the endpoint expects.", show_default=False)
                          ] = None,
    tokenizer: Annotated[str | None, typer.Option(
        "--tokenizer", metavar="DIR", help="A local tokenizer folder for the endpoint's model "
        "(OpenCompass counts tokens with it).", show_default=False)] = None,
    max_out_len: Annotated[int, typer.Option("--max-out-len", help="Tokens generated per "
                                             "item.")] = 64,
    name: Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")
                    ] = "evaluate",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Score models with OpenCompass on the same datasets, side by side, each later model
    with its delta against the first. From a recipe, or from plain arguments (the same
    stages as a recipe's `download:`s + `evaluate:`, in .internpipe/NAME/ here).

    Examples:

      internpipe evaluate recipes/demo-cpu.yaml

      internpipe evaluate ./base ./merged -d data/eval_qa.jsonl -d data/eval_mcq.jsonl:mcq

      internpipe evaluate ./base ./merged -d data/eval_mcq.jsonl --type mcq --limit 20

      internpipe evaluate --endpoint http://127.0.0.1:23333/v1 --model-name internlm2 \
          --tokenizer ./merged -d data/eval_qa.jsonl
    """
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        items = list(targets or [])
        if len(items) == 1 and Path(items[0]).suffix in (".yaml", ".yml") and \
                Path(items[0]).is_file():
            if dataset or endpoint:
                raise UserError("--dataset and --endpoint are for plain arguments; with a "
                                "recipe, change the recipe or use --set")
            r = pipeline.load(Path(items[0]), set_)
            stage = next((n for n in reversed(r.order) if r.stages[n].kind == "evaluate"),
                         None)
            if stage is None:
                raise UserError(f"{items[0]}: the recipe has no evaluate stage")
            from internpipe.plan import Selection

            raise typer.Exit(run_recipe(r, device, Selection(until=stage), json_mode))
        if not dataset:
            raise UserError("name at least one --dataset (a .jsonl/.csv file or an OpenCompass "
                            "dataset config name)")
        if not items and not endpoint:
            raise UserError("name the models to evaluate (folders or hub sources), or an "
                            "--endpoint")
        if endpoint and not model_name:
            raise UserError("--endpoint needs --model-name (the name the server expects)")
        if kind not in ("qa", "mcq"):
            raise UserError(f"--type must be qa or mcq, not {kind!r}")
        cwd = Path.cwd()
        stages: dict[str, Any] = {}
        taken: set[str] = set()
        for source in items:
            local = Path(source)
            stages[_stage_name(source, taken)] = {
                "uses": "download",
                "source": str(local.resolve()) if local.exists() else source}
        options: dict[str, Any] = {
            "datasets": [_dataset(d, kind, metric, cwd) for d in dataset],
            "max_out_len": max_out_len}
        if stages:
            options["models"] = list(stages)
        if endpoint:
            ep: dict[str, Any] = {"url": endpoint, "model": model_name, "name": "endpoint"}
            if tokenizer:
                ep["tokenizer"] = str(Path(tokenizer).resolve())
            options["endpoints"] = [ep]
        if limit is not None:
            options["limit"] = limit
        if data_dir:
            options["data_dir"] = str(Path(data_dir).resolve())
        stages["evaluate"] = options
        _, code = run_from_arguments("evaluate", name, stages, set_, device, json_mode)
    raise typer.Exit(code)
