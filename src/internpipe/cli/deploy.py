from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from internpipe.cli.common import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    console,
    execute_recipe,
    guard,
    load_recipe,
    run_from_arguments,
    sigterm_as_interrupt,
)

ACTIONS = ("status", "stop", "logs")


def _deploy_entries(recipe_path: Path,
                    overrides: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    from internpipe.errors import UserError
    from internpipe.state import WorkDir

    r = load_recipe(recipe_path, overrides)
    names = [n for n in r.order if r.stages[n].kind == "deploy"]
    if not names:
        raise UserError(f"{recipe_path}: the recipe has no deploy stage")
    entries = WorkDir(r.workdir).read_state()["stages"]
    return [(n, entries.get(n) or {}) for n in names]


def _action(action: str, recipe: Path, overrides: list[str] | None, lines: int,
            json_mode: bool) -> None:
    from internpipe import services

    rows: list[dict[str, Any]] = []
    for name, entry in _deploy_entries(recipe, overrides):
        art = entry.get("artifact") or {}
        pid = art.get("pid")
        up = services.alive(pid) and services.healthy(str(art.get("health_url")))
        row = {"stage": name, "serving": up, "base_url": art.get("base_url"),
               "model": art.get("model"), "engine": art.get("engine"), "pid": pid,
               "log": art.get("log")}
        if action == "stop":
            row["stopped"] = services.stop(int(pid)) if pid else False
        if action == "logs" and art.get("log"):
            text = Path(art["log"]).read_text(errors="replace").splitlines()
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
    port: Annotated[str, typer.Option("--port", help="A port, or auto.")] = "23333",
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

      internpipe deploy status recipes/demo-cpu.yaml

      internpipe deploy stop recipes/demo-cpu.yaml
    """
    from internpipe import services
    from internpipe.errors import UserError
    from internpipe.state import WorkDir

    sigterm_as_interrupt()
    with guard(json_mode):
        if target in ACTIONS:
            if recipe is None:
                raise UserError(f"internpipe deploy {target} needs the RECIPE")
            _action(target, recipe, set_, lines, json_mode)
            return
        if recipe is not None:
            raise UserError("one target: a recipe, or a model folder")
        path = Path(target)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            r = load_recipe(path, set_)
            stage = next((n for n in reversed(r.order) if r.stages[n].kind == "deploy"), None)
            if stage is None:
                raise UserError(f"{path}: the recipe has no deploy stage")
            from internpipe.plan import Selection

            code = execute_recipe(r, device, Selection(until=stage, serve=(stage,)),
                                  json_mode, keep_serving=True)
        else:
            options: dict[str, Any] = {"engine": engine,
                                       "port": port if port == "auto" else int(port)}
            from internpipe.plan import Selection

            stage = "deploy"
            r, code = run_from_arguments("deploy", "deploy", {"download": {"source": target},
                                                              "deploy": options},
                                         set_, device, json_mode, keep_serving=True,
                                         sel=Selection(serve=(stage,)))
        if code != 0:
            raise typer.Exit(code)
        art = (WorkDir(r.workdir).read_state()["stages"].get(stage) or {}).get("artifact") or {}
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
