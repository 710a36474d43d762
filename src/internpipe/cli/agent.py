from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from internpipe.recipe import Recipe


def _agent_stage(r: Recipe, path: Path) -> str:
    from internpipe.errors import UserError

    stage = next((n for n in reversed(r.order) if r.stages[n].kind == "agent"), None)
    if stage is None:
        raise UserError(f"{path}: the recipe has no agent stage")
    return stage


def _serving(art: dict[str, Any]) -> bool:
    from internpipe import services

    return bool(art.get("pid")) and services.alive(art["pid"]) and \
        services.healthy(str(art.get("health_url")))


def _chat(spec: dict[str, Any], python: Path, env: Any, work: Path) -> int:
    """The worker's REPL on this terminal (stdin/stdout inherited)."""
    from internpipe import envs
    from internpipe.stages import agent

    work.mkdir(parents=True, exist_ok=True)
    (work / "chat-spec.json").write_text(json.dumps(spec, indent=1))
    try:
        return subprocess.call([str(python), str(agent.WORKER), "chat",
                                str(work / "chat-spec.json"), "--scratch",
                                str(work / "scratch")],
                               env=envs.step_environ(env, offline=True))
    except KeyboardInterrupt:
        return 130


def _chat_recipe(path: Path, overrides: list[str] | None, device: str | None) -> int:
    from internpipe import envs, services
    from internpipe.plan import Selection
    from internpipe.stages import agent
    from internpipe.state import WorkDir

    r = load_recipe(path, overrides)
    stage = _agent_stage(r, path)
    opts: Any = r.stages[stage].options
    wd = WorkDir(r.workdir)
    started: int | None = None
    if opts.url:
        target = (opts.url, str(opts.model_name or ""), opts.api_key_env, None)
        if not opts.model_name:
            from internpipe.errors import UserError

            raise UserError(f"stage {stage!r}: `url:` needs `model_name:`")
    else:
        deploy = r.stages[stage].inputs["endpoint"][0]
        before = ((wd.read_state()["stages"].get(deploy) or {}).get("artifact") or {})
        was_up = _serving(before)
        code = execute_recipe(r, device, Selection(until=deploy, serve=(deploy,)), False,
                              keep_serving=True)
        if code != 0:
            return code
        art = (wd.read_state()["stages"].get(deploy) or {}).get("artifact") or {}
        keep = bool(getattr(r.stages[deploy].options, "keep", False))
        if not was_up and not keep:
            started = int(art["pid"])
        target = (art["base_url"], art["model"], art.get("api_key_env"), art.get("engine"))
    try:
        env = envs.ensure("agent", envs.resolve_device(device or r.device), r.tools,
                          progress=lambda m: console(stderr=True).print(m))
        spec = agent.make_spec(opts, *target)
        return _chat(spec, env.python, env, wd.work(stage) / "chat")
    finally:
        if started:
            services.stop(started)


def command(
    target: Annotated[str | None, typer.Argument(
        metavar="[RECIPE | chat]", help="A recipe (runs its agent stage's queries), or "
        "`chat` for an interactive chat.", show_default=False)] = None,
    recipe: Annotated[Path | None, typer.Argument(
        metavar="[RECIPE]", help="The recipe, for chat.", show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", metavar="URL", help="An OpenAI-compatible server instead of a recipe.",
        show_default=False)] = None,
    model_name: Annotated[str | None, typer.Option(
        "--model-name", help="The model name the endpoint expects.", show_default=False)
                          ] = None,
    tool: Annotated[list[str] | None, typer.Option(
        "--tool", "-t", metavar="NAME|URL", help="Calculator, PythonInterpreter, "
        "IPythonInterpreter, any AgentLego tool, or an agentlego-server URL (repeatable).",
        show_default=False)] = None,
    query: Annotated[list[str] | None, typer.Option(
        "--query", "-q", help="A query to run (repeatable).", show_default=False)] = None,
    expect: Annotated[list[str] | None, typer.Option(
        "--expect", help="A substring every answer must contain (repeatable).",
        show_default=False)] = None,
    kind: Annotated[str, typer.Option("--agent", help="internlm2 | react")] = "internlm2",
    max_turns: Annotated[int, typer.Option("--max-turns")] = 5,
    name: Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")
                    ] = "agent",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """A Lagent agent (InternLM2's protocol or ReAct) on a served model, with AgentLego tools
    and Lagent actions: run a recipe's scripted queries (a transcript each, `expect` checks),
    or chat with it on the terminal, tool calls shown as they happen.

    Examples:

      internpipe agent recipes/demo-cpu.yaml

      internpipe agent chat recipes/demo-cpu.yaml

      internpipe agent --endpoint http://127.0.0.1:23333/v1 --model-name internlm2 \
          -t Calculator -q "What is 3.5 * 12?" --expect 42

      internpipe agent chat --endpoint http://127.0.0.1:23333/v1 --model-name internlm2 \
          -t PythonInterpreter
    """
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        if target == "chat":
            if json_mode:
                raise UserError("the chat is interactive: --json does not apply")
            if recipe is not None:
                raise typer.Exit(_chat_recipe(recipe, set_, device))
            if not (endpoint and model_name):
                raise UserError("internpipe agent chat needs a RECIPE, or --endpoint and "
                                "--model-name")
            from internpipe import envs
            from internpipe.stages import agent

            opts = agent.Options(url=endpoint, model_name=model_name, tools=tool or [],
                                 agent=kind, max_turns=max_turns)
            env = envs.ensure("agent", envs.resolve_device(device or "auto"),
                              progress=lambda m: console(stderr=True).print(m))
            spec = agent.make_spec(opts, endpoint, model_name, None, None)
            raise typer.Exit(_chat(spec, env.python, env,
                                   Path.cwd() / ".internpipe" / name / "chat"))
        if recipe is not None:
            raise UserError("one target: a recipe, or `chat RECIPE`")
        if target is not None:
            path = Path(target)
            if endpoint or query:
                raise UserError("--endpoint and --query are for plain arguments; with a "
                                "recipe, change the recipe or use --set")
            r = load_recipe(path, set_)
            from internpipe.plan import Selection

            raise typer.Exit(execute_recipe(r, device, Selection(until=_agent_stage(r, path)),
                                            json_mode))
        if not (endpoint and model_name and query):
            raise UserError("without a recipe, name --endpoint, --model-name and at least one "
                            "--query")
        options: dict[str, Any] = {
            "url": endpoint, "model_name": model_name, "tools": tool or [], "agent": kind,
            "max_turns": max_turns,
            "queries": [{"text": q, "expect": list(expect or [])} for q in query]}
        _, code = run_from_arguments("agent", name, {"agent": options}, set_, device,
                                     json_mode)
    raise typer.Exit(code)
