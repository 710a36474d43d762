from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from internpipe import pipeline
from internpipe.cli import complete
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


def _chat(spec: dict[str, Any], python: Path, env: Any, work: Path) -> int:
    """The worker's REPL on this terminal (stdin/stdout inherited)."""
    from internpipe import envs
    from internpipe.stages.agent import stage as agent

    work.mkdir(parents=True, exist_ok=True)
    (work / "chat-spec.json").write_text(json.dumps(spec, indent=1))
    try:
        return subprocess.call([str(python), str(agent.WORKER), "chat",
                                str(work / "chat-spec.json"), "--scratch",
                                str(work / "scratch")],
                               env=envs.step_environ(env, offline=True))
    except KeyboardInterrupt:
        return 130


def _chat_env(device: str | None, interpreters: dict[str, str] | None = None) -> Any:
    from internpipe import devices, envs

    return envs.ensure("agent", devices.resolve_device(device or "auto"), interpreters,
                       progress=_say)


def _say(message: str, /, **counts: int) -> None:
    if not counts:      # a step of a build; the per-second counts are for the live view
        console(stderr=True).print(message)


def _chat_recipe(path: Path, overrides: list[str] | None, device: str | None) -> int:
    """Chat with a recipe's agent: its deploy stage brought up for the chat (and stopped
    after, if this started it), or its external `url:`."""
    from internpipe.errors import UserError
    from internpipe.progress import make_reporter
    from internpipe.stages.agent import stage as agent
    from internpipe.state import WorkDir

    r = pipeline.load(path, overrides)
    stage = pipeline.need_stage_of_kind(r, "agent")
    opts = r.stages[stage].options
    assert isinstance(opts, agent.Options)
    work = WorkDir(r.workdir).work(stage) / "chat"
    if opts.url:
        if not opts.model_name:
            raise UserError(f"stage {stage!r}: `url:` needs `model_name:`")
        spec = agent.make_spec(opts, opts.url, opts.model_name, opts.api_key_env, None)
        env = _chat_env(device or r.device, r.interpreters)
        return _chat(spec, env.python, env, work)
    deploy = r.stages[stage].inputs["endpoint"][0]
    reporter = make_reporter(False)
    try:
        with pipeline.serving(r, deploy, device, reporter) as endpoint:
            reporter.close()          # the run's view ends; the chat takes the terminal
            env = _chat_env(device or r.device, r.interpreters)
            spec = agent.make_spec(opts, str(endpoint["base_url"]), str(endpoint["model"]),
                                   endpoint.get("api_key_env"), endpoint.get("engine"))
            return _chat(spec, env.python, env, work)
    finally:
        reporter.close()


app = typer.Typer(cls=with_default("run"), no_args_is_help=True, rich_markup_mode=None,
                  help="A Lagent agent on a served model: `internpipe agent TARGET` is "
                       "`internpipe agent run TARGET`; `internpipe agent chat` talks to it.",
                  epilog="Examples:\n\n"
                         "  internpipe agent recipes/demo-cpu.yaml\n\n"
                         "  internpipe agent chat recipes/demo-cpu.yaml")

EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint", metavar="URL", help="An OpenAI-compatible server instead of a recipe.",
    show_default=False)]
ModelNameOpt = Annotated[str | None, typer.Option(
    "--model-name", help="The model name the endpoint expects.", show_default=False)]
ToolOpt = Annotated[list[str] | None, typer.Option(
    "--tool", "-t", metavar="NAME|URL", help="Calculator, PythonInterpreter, "
    "IPythonInterpreter, any AgentLego tool, or an agentlego-server URL (repeatable).",
    show_default=False)]
KindOpt = Annotated[Literal["internlm2", "react"], typer.Option(
    "--agent", help="InternLM2's tool-call protocol or ReAct.")]
MaxTurnsOpt = Annotated[int, typer.Option("--max-turns", help="Model calls per query.")]
NameOpt = Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")]
RecipeOpt = Annotated[Path | None, typer.Argument(
    metavar="RECIPE", help="The recipe (its agent stage); or --endpoint and --model-name.",
    show_default=False, autocompletion=complete.recipe_files)]


@app.command("run")
def run(
    recipe: RecipeOpt = None,
    endpoint: EndpointOpt = None,
    model_name: ModelNameOpt = None,
    tool: ToolOpt = None,
    query: Annotated[list[str] | None, typer.Option(
        "--query", "-q", help="A query to run (repeatable).", show_default=False)] = None,
    expect: Annotated[list[str] | None, typer.Option(
        "--expect", help="A substring every answer must contain (repeatable).",
        show_default=False)] = None,
    kind: KindOpt = "internlm2",
    max_turns: MaxTurnsOpt = 5,
    name: NameOpt = "agent",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """A Lagent agent (InternLM2's protocol or ReAct) on a served model, with AgentLego tools
    and Lagent actions: run a recipe's scripted queries (a transcript each, `expect` checks).

    Examples:

      internpipe agent recipes/demo-cpu.yaml

      internpipe agent --endpoint http://127.0.0.1:23333/v1 --model-name internlm2 \\
          -t Calculator -q "What is 3.5 * 12?" --expect 42
    """
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        if recipe is not None:
            if endpoint or query:
                raise UserError("--endpoint and --query are for plain arguments; with a "
                                "recipe, change the recipe or use --set")
            r = pipeline.load(recipe, set_)
            sel = pipeline.selection(until=pipeline.need_stage_of_kind(r, "agent"))
            raise typer.Exit(run_recipe(r, device, sel, json_mode))
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


@app.command("chat")
def chat(
    recipe: RecipeOpt = None,
    endpoint: EndpointOpt = None,
    model_name: ModelNameOpt = None,
    tool: ToolOpt = None,
    kind: KindOpt = "internlm2",
    max_turns: MaxTurnsOpt = 5,
    name: NameOpt = "agent",
    set_: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Chat with the agent on the terminal, tool calls shown as they happen: a recipe's
    agent (its deploy stage brought up for the chat), or any endpoint.

    Examples:

      internpipe agent chat recipes/demo-cpu.yaml

      internpipe agent chat --endpoint http://127.0.0.1:23333/v1 --model-name internlm2 \\
          -t PythonInterpreter
    """
    from internpipe.errors import Problem, UserError

    sigterm_as_interrupt()
    with guard(False):
        if recipe is not None:
            raise typer.Exit(_chat_recipe(recipe, set_, device))
        if not (endpoint and model_name):
            raise UserError("internpipe agent chat needs a RECIPE, or --endpoint and "
                            "--model-name")
        from pydantic import ValidationError

        from internpipe.stages.agent import stage as agent

        try:
            opts = agent.Options.model_validate({
                "url": endpoint, "model_name": model_name, "tools": tool or [],
                "agent": kind, "max_turns": max_turns})
        except ValidationError as exc:
            raise UserError("bad arguments", [
                Problem("internpipe agent chat", None, ".".join(map(str, e["loc"])),
                        e["msg"].removeprefix("Value error, "))
                for e in exc.errors(include_url=False)]) from None
        env = _chat_env(device)
        spec = agent.make_spec(opts, endpoint, model_name, None, None)
        raise typer.Exit(_chat(spec, env.python, env,
                               Path.cwd() / ".internpipe" / name / "chat"))
