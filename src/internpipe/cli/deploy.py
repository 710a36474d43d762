from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from internpipe import events, pipeline
from internpipe.cli.groups import with_default
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
    from internpipe.recipe import Recipe

app = typer.Typer(cls=with_default("serve"), no_args_is_help=True, rich_markup_mode=None,
                  help="Serve a model behind an OpenAI-compatible API, and look after the "
                       "servers: `internpipe deploy TARGET` is `internpipe deploy serve "
                       "TARGET`.",
                  epilog="Examples:\n\n"
                         "  internpipe deploy recipes/demo-cpu.yaml\n\n"
                         "  internpipe deploy ./merged --detach\n\n"
                         "  internpipe deploy status recipes/demo-cpu.yaml\n\n"
                         "  internpipe deploy stop ./merged")

TargetArg = Annotated[str, typer.Argument(
    metavar="RECIPE|MODEL_DIR", help="A recipe, or the model folder (or hub source) given "
    "to `internpipe deploy MODEL_DIR` in this folder.", show_default=False)]


def _recipe_of(target: str, overrides: list[str] | None) -> Recipe:
    """The recipe a target names: a recipe file, or the one `deploy MODEL_DIR` ran here
    (.internpipe/deploy/), as long as it served that same model."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml"):
        return pipeline.load(path, overrides)
    from internpipe.errors import UserError

    r = pipeline.from_arguments("deploy", "deploy", _model_stages(target, "auto", "23333"),
                                overrides)
    source = pipeline.artifact_of(r, "download").get("source")
    if source is not None and not _same_model(str(source), target):
        raise UserError(f"the server deployed from this folder serves {source}, not "
                        f"{target}")
    return r


def _model_stages(target: str, engine: str, port: str) -> dict[str, Any]:
    return {"download": {"source": target},
            "deploy": {"engine": engine, "port": port if port == "auto" else int(port)}}


def _same_model(recorded: str, target: str) -> bool:
    """`./merged`, `merged` and `/abs/merged` are one folder; a hub source is its name."""
    if recorded == target:
        return True
    return ":" not in recorded + target and Path(recorded).resolve() == Path(target).resolve()


def _deploy_endpoints(target: str, overrides: list[str] | None
                      ) -> list[tuple[str, EndpointArtifact]]:
    r = _recipe_of(target, overrides)
    names = [n for n in r.order if r.stages[n].kind == "deploy"]
    if not names:
        from internpipe.errors import UserError

        raise UserError(f"{target}: the recipe has no deploy stage")
    return [(n, pipeline.endpoint_of(r, n)) for n in names]


def _action(action: str, target: str, overrides: list[str] | None, lines: int,
            json_mode: bool) -> None:
    from internpipe import services

    rows: list[dict[str, Any]] = []
    for name, art in _deploy_endpoints(target, overrides):
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
        events.write({"event": f"deploy_{action}", "stages": rows})
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


@app.command("serve")
def serve(
    target: TargetArg,
    engine: Annotated[Literal["auto", "lmdeploy", "transformers"], typer.Option(
        "--engine", help="LMDeploy (CUDA) or `transformers serve`; auto picks by device.")
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
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Serve a model behind an OpenAI-compatible API: LMDeploy's api_server on CUDA,
    `transformers serve` on CPU. In the foreground Ctrl-C stops it; --detach leaves it up.

    Examples:

      internpipe deploy recipes/demo-cpu.yaml

      internpipe deploy ./merged --engine lmdeploy --port auto --detach

      internpipe deploy ./internlm2_5-7b-chat-w4a16-4bit --model-format awq \\
          --quant-policy 4 --cache-max-entry-count 0.4 --server-port 23333
    """
    from internpipe import services
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
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
            stages = _model_stages(target, engine, port or "23333")
            stages["deploy"].update(given)
            stage = "deploy"
            r, code = run_from_arguments("deploy", "deploy", stages,
                                         set_, device, json_mode, keep_serving=True,
                                         sel=pipeline.selection(serve=(stage,)))
        if code != 0:
            raise typer.Exit(code)
        art = pipeline.endpoint_of(r, stage)
        pid = int(art.get("pid") or 0)
        if json_mode:
            events.write({"event": "serving", "stage": stage, **art})
        else:
            console().print(f"[green]serving[/] {art.get('base_url')}  model "
                            f"{art.get('model')}  ({art.get('engine')}, pid {pid})")
        if detach:
            if not json_mode:
                console().print(f"stop it with: internpipe deploy stop {target}")
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


@app.command("status")
def status(target: TargetArg, set_: SetOpt = None, json_mode: JsonOpt = False) -> None:
    """Whether each deploy stage's server is up: URL, model, engine, pid.

    Example:

      internpipe deploy status recipes/demo-cpu.yaml
    """
    with guard(json_mode):
        _action("status", target, set_, 0, json_mode)


@app.command("stop")
def stop(target: TargetArg, set_: SetOpt = None, json_mode: JsonOpt = False) -> None:
    """Stop the servers of a recipe, or the one `internpipe deploy MODEL_DIR --detach`
    started from this folder.

    Examples:

      internpipe deploy stop recipes/demo-cpu.yaml

      internpipe deploy stop ./merged
    """
    with guard(json_mode):
        _action("stop", target, set_, 0, json_mode)


@app.command("logs")
def logs(target: TargetArg,
         lines: Annotated[int, typer.Option("--lines", "-n", help="How many of the last "
                                            "lines.")] = 40,
         set_: SetOpt = None, json_mode: JsonOpt = False) -> None:
    """The last lines of each server's log.

    Example:

      internpipe deploy logs recipes/demo-cpu.yaml -n 100
    """
    with guard(json_mode):
        _action("logs", target, set_, lines, json_mode)
