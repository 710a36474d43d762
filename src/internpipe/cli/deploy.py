from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from internpipe import pipeline
from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    console,
    guard,
    run_from_arguments,
    run_recipe,
    sigterm_as_interrupt,
)

if TYPE_CHECKING:
    from internpipe.artifacts import EndpointArtifact

ACTIONS = ("status", "stop", "logs")


def _deploy_endpoints(recipe_path: Path, overrides: list[str] | None
                      ) -> list[tuple[str, EndpointArtifact]]:
    r = pipeline.load(recipe_path, overrides)
    names = [n for n in r.order if r.stages[n].kind == "deploy"]
    if not names:
        from internpipe.errors import UserError

        raise UserError(f"{recipe_path}: the recipe has no deploy stage")
    return [(n, pipeline.endpoint_of(r, n)) for n in names]


def _action(action: str, recipe: Path, overrides: list[str] | None, lines: int,
            json_mode: bool) -> None:
    from internpipe import services

    rows: list[dict[str, Any]] = []
    for name, art in _deploy_endpoints(recipe, overrides):
        pid = art.get("pid")
        up = services.is_serving(art)
        row: dict[str, Any] = {"stage": name, "serving": up, "base_url": art.get("base_url"),
                               "model": art.get("model"), "engine": art.get("engine"),
                               "pid": pid, "log": art.get("log")}
        if action == "stop":
            row["stopped"] = services.stop(int(pid)) if pid else False
        if action == "logs" and art.get("log"):
            text = Path(str(art["log"])).read_text(errors="replace").splitlines()
            row["lines"] = text[-lines:]
        rows.append(row)
    if json_mode:
        print(json.dumps({"event": f"deploy_{action}", "stages": rows}))
        return
    out = console()
    for row in rows:
        if action == "logs":
            out.print(f"[bold]{row['stage']}[/] {row['log']}")
            for line in row.get("lines", []):
                out.print(line, markup=False, highlight=False)
        elif action == "stop":
            out.print(f"{row['stage']}: " + ("stopped" if row["stopped"] else "was not running"))
        else:
            state = "[green]serving[/]" if row["serving"] else "[dim]not serving[/]"
            out.print(f"{row['stage']}: {state} {row['base_url'] or ''} model {row['model']} "
                      f"({row['engine']}, pid {row['pid']})")


def command(
    target: Annotated[str, typer.Argument(metavar="RECIPE|MODEL_DIR|ACTION", help="A recipe "
                                          "(serves its deploy stage), a model folder or hub "
                                          "source, or status | stop | logs.",
                                          show_default=False)],
    recipe: Annotated[Path | None, typer.Argument(metavar="[RECIPE]", help="The recipe, for "
                                                  "status / stop / logs.",
                                                  show_default=False)] = None,
    engine: Annotated[str, typer.Option("--engine", help="auto | lmdeploy | transformers")
                      ] = "auto",
    port: Annotated[str | None, typer.Option("--port", "--server-port",
                                             help="A port, or auto (default 23333).",
                                             show_default=False)] = None,
    host: Annotated[str | None, typer.Option("--server-name", "--host", help="The address "
                                             "to bind (default 127.0.0.1).",
                                             show_default=False)] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="LMDeploy: turbomind | "
                                                "pytorch.", show_default=False)] = None,
    model_format: Annotated[str | None, typer.Option(
        "--model-format", help="LMDeploy: hf | awq (checked against the model).",
        show_default=False)] = None,
    quant_policy: Annotated[int | None, typer.Option(
        "--quant-policy", help="LMDeploy: 0 | 4 | 8 (KV cache int4 / int8).",
        show_default=False)] = None,
    cache_max_entry_count: Annotated[float | None, typer.Option(
        "--cache-max-entry-count", help="LMDeploy: the KV cache's share of free GPU memory.",
        show_default=False)] = None,
    session_len: Annotated[int | None, typer.Option("--session-len", help="LMDeploy: the "
                                                    "longest session in tokens.",
                                                    show_default=False)] = None,
    tp: Annotated[int | None, typer.Option("--tp", help="LMDeploy: tensor parallel GPUs.",
                                           show_default=False)] = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="LMDeploy: the "
                                                   "served model's name.",
                                                   show_default=False)] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Leave the server running and "
                                                          "return.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Log lines (logs).")] = 40,
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Serve a model behind an OpenAI-compatible API: LMDeploy's api_server on CUDA,
    `transformers serve` on CPU. In the foreground Ctrl-C stops it; --detach leaves it up.

    Examples:

      internpipe deploy recipes/demo-cpu.yaml

      internpipe deploy ./merged --engine lmdeploy --port auto --detach

      internpipe deploy ./internlm2_5-7b-chat-w4a16-4bit --model-format awq \
          --quant-policy 4 --cache-max-entry-count 0.4 --server-port 23333

      internpipe deploy status recipes/demo-cpu.yaml

      internpipe deploy stop recipes/demo-cpu.yaml
    """
    from internpipe import services
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        if target in ACTIONS:
            if recipe is None:
                raise UserError(f"internpipe deploy {target} needs the RECIPE")
            _action(target, recipe, set_, lines, json_mode)
            return
        if recipe is not None:
            raise UserError("one target: a recipe, or a model folder")
        given = {k: v for k, v in (("port", port), ("host", host), ("backend", backend),
                                   ("model_format", model_format),
                                   ("quant_policy", quant_policy),
                                   ("cache_max_entry_count", cache_max_entry_count),
                                   ("session_len", session_len), ("tp", tp),
                                   ("model_name", model_name)) if v is not None}
        if port is not None and port.isdigit():
            given["port"] = int(port)
        path = Path(target)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            stage = pipeline.need_stage_of_kind(pipeline.load(path, set_), "deploy")
            # The flags override the recipe's deploy stage, as --set would.
            r = pipeline.load(path, [*(set_ or []), *(f"stages.{stage}.{k}={v}"
                                                     for k, v in given.items())])
            code = run_recipe(r, device, pipeline.selection(until=stage, serve=(stage,)),
                              json_mode, keep_serving=True)
        else:
            options: dict[str, Any] = {"engine": engine, **given}
            stage = "deploy"
            r, code = run_from_arguments("deploy", "deploy", {"download": {"source": target},
                                                              "deploy": options},
                                         set_, device, json_mode, keep_serving=True,
                                         sel=pipeline.selection(serve=(stage,)))
        if code != 0:
            raise typer.Exit(code)
        art = pipeline.endpoint_of(r, stage)
        pid = int(art.get("pid") or 0)
        if json_mode:
            print(json.dumps({"event": "serving", "stage": stage, **art}), flush=True)
        else:
            console().print(f"[green]serving[/] {art.get('base_url')}  model "
                            f"{art.get('model')}  ({art.get('engine')}, pid {pid})")
        if detach:
            if not json_mode:
                console().print(f"stop it with: internpipe deploy stop {target}"
                                if path.suffix in (".yaml", ".yml") else
                                f"stop it with: kill -TERM -{pid}")
            return
        if not json_mode:
            console().print("Ctrl-C stops the server")
        try:
            while services.alive(pid):
                time.sleep(0.5)
            raise UserError(f"the server (pid {pid}) stopped; see {art.get('log')}")
        except KeyboardInterrupt:
            services.stop(pid)
            if not json_mode:
                console().print("server stopped")
