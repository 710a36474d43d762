from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from internpipe.cli.shared import DeviceOpt, SetOpt, guard, say

if TYPE_CHECKING:
    from internpipe.chat.targets import Target


class Ended(Exception):
    """SIGTERM: the chat ends (servers it started are stopped on the way out)."""


def _terminated(signum: int, frame: Any) -> None:
    raise Ended


def _agent_options(values: dict[str, Any]) -> Any:
    """The agent stage's options, so that --tool is checked as a recipe's `tools:` is."""
    from pydantic import ValidationError

    from internpipe.errors import Problem, UserError
    from internpipe.stages.agent import stage as agent

    try:
        return agent.Options.model_validate(values)
    except ValidationError as exc:
        raise UserError("bad arguments", [
            Problem("internpipe chat", None, "--tool", e["msg"].removeprefix("Value error, "))
            for e in exc.errors(include_url=False)]) from None


def _agent_spec(targets: list[Target], tools: list[str] | None) -> dict[str, Any]:
    """The web page's agent mode: Lagent's agent on the first model, as the recipe's agent
    stage sets it up (prompts, turns, the tool results' role), with the tools the command
    line names, else the stage's, else Calculator."""
    from internpipe.stages.agent import stage as agent

    first = targets[0].endpoint
    recipe = {k: v for k, v in targets[0].agent.items() if k not in ("endpoint", "queries")}
    opts = _agent_options({**recipe, "url": first["base_url"], "model_name": first["model"],
                           "api_key_env": first.get("api_key_env"),
                           "tools": tools or recipe.get("tools") or ["Calculator"]})
    return agent.make_spec(opts, str(first["base_url"]), str(first["model"]),
                           first.get("api_key_env"), first.get("engine"))


def _images(specs: list[str]) -> list[str]:
    """Each --image as the URL the server is sent; every bad one at once (exit 2)."""
    from internpipe.errors import Problem, UserError
    from internpipe.workers import chat_images

    urls, problems = [], []
    for spec in specs:
        try:
            urls.append(chat_images.image_url(spec))
        except chat_images.BadImage as exc:
            problems.append(Problem("internpipe chat", None, "--image", f"{spec}: {exc}"))
    if problems:
        raise UserError("bad arguments", problems)
    return urls


def _web(targets: list[Target], system: str | None, settings: dict[str, Any],
         tools: list[str] | None, host: str, port: str, device: str | None) -> int:
    from internpipe import devices, envs
    from internpipe.chat import web
    from internpipe.errors import StageFailed

    key, lines = web.access_key(host, dict(os.environ))
    for line in lines:
        say((line, "yellow"), stderr=True)
    def progress(message: str, /, **counts: int) -> None:
        if not counts:
            say(message, stderr=True)

    env = envs.ensure("agent", devices.resolve_device(device or "auto"), progress=progress)
    spec = web.page_spec(targets, system, settings,
                         _agent_spec(targets, tools),
                         web.KEY_VAR if key else None)
    work = Path.cwd() / ".internpipe" / "chat-web"
    pid, url = web.serve_page(env, work, spec, host, port, key,
                              lambda m: say(m, stderr=True))
    say(("open ", "bold"), url, stderr=False)
    say("Ctrl-C stops the page (and the servers this chat started)", stderr=True)
    try:
        web.wait(pid)
    except KeyboardInterrupt:
        return 0
    raise StageFailed("web chat", "the page's server stopped on its own",
                      log_path=str(work / "web.log"))


def command(
    target: Annotated[str | None, typer.Argument(
        metavar="TARGET", help="A recipe (its newest deploy or model stage), RECIPE:STAGE, a "
        "model folder or hub source, or a server URL.", show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", metavar="URL", help="An OpenAI-compatible server (same as a URL "
        "TARGET).", show_default=False)] = None,
    model_name: Annotated[str | None, typer.Option(
        "--model-name", help="The model name a server URL expects.", show_default=False)
                          ] = None,
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", metavar="VAR", help="The variable holding a server URL's API key.",
        show_default=False)] = None,
    system: Annotated[str | None, typer.Option(
        "--system", "-S", metavar="TEXT", help="The system prompt (persona). Default: the "
        "recipe's agent stage's meta_prompt, if any.", show_default=False)] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 0.0,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, max=1 << 20,
                                            help="Most new tokens per answer.")] = 512,
    query: Annotated[list[str] | None, typer.Option(
        "--query", "-q", help="Ask this and print the answer, then exit (repeatable; later "
        "queries see the earlier answers).", show_default=False)] = None,
    json_mode: Annotated[bool, typer.Option(
        "--json", help="With --query: one JSON line per answer (with its timings).")] = False,
    web_mode: Annotated[bool, typer.Option("--web", help="Serve the chat as a web page.")
                        ] = False,
    compare: Annotated[str | None, typer.Option(
        "--compare", metavar="TARGET", help="A second model for the page's compare mode.",
        show_default=False)] = None,
    compare_model_name: Annotated[str | None, typer.Option(
        "--compare-model-name", help="The model name of a --compare server URL.",
        show_default=False)] = None,
    tool: Annotated[list[str] | None, typer.Option(
        "--tool", "-t", metavar="NAME", help="A tool of the page's agent mode (repeatable; "
        "default: the recipe's agent tools, else Calculator).", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Where the page listens; another "
                                      "host than this machine asks for an access key.")
                    ] = "127.0.0.1",
    port: Annotated[str, typer.Option("--port", help="The page's port, or auto.")] = "8501",
    image: Annotated[list[str] | None, typer.Option(
        "--image", "-i", metavar="PATH|URL", help="An image sent with the first question "
        "(repeatable: several go together; a local file is sent inside the request). For a "
        "vision-language model; in the chat, /image PATH adds one to the next question.",
        show_default=False)] = None,
    set_: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Chat with a model: streamed, multi-turn, with a system prompt (persona) and generation
    settings. The model is served for the chat when needed (LMDeploy on CUDA, `transformers
    serve` on CPU, as deploy serves it) and stopped after. In the chat: /reset, /system TEXT,
    /set KEY VALUE, /save [FILE], /exit; Ctrl-C stops the answer, not the chat. --web serves
    a page (Streamlit) with chat, agent (tool calls shown as they happen) and compare modes.

    Examples:

      internpipe chat recipes/demo-cpu.yaml

      internpipe chat recipes/demo-cpu.yaml:finetune -S "You are Bajie." -q "Who are you?"

      internpipe chat ./merged --temperature 0.7 --max-tokens 256

      internpipe chat --endpoint http://127.0.0.1:23333/v1 --model-name internlm2

      internpipe chat recipes/demo-cpu.yaml --web --compare recipes/demo-cpu.yaml:download

      internpipe chat recipes/tiny-vlm-cpu.yaml --image photo.jpg -q "What is in the picture?"
    """
    from internpipe.errors import UserError

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminated)
    with guard(json_mode):
        if endpoint and target:
            raise UserError("name one target: TARGET or --endpoint")
        spec = endpoint or target
        if not spec:
            raise UserError("internpipe chat needs a TARGET (a recipe, a model folder, a URL) "
                            "or --endpoint URL --model-name NAME")
        if json_mode and not query:
            raise UserError("--json is for --query")
        if web_mode and query:
            raise UserError("--query prints answers; --web serves a page: choose one")
        if compare and not web_mode:
            raise UserError("--compare is the web page's compare mode: add --web")
        if web_mode:    # before any model is served for the page
            from internpipe.chat import web

            if port != "auto":
                web.pick_port(host, port)
            if tool:
                _agent_options({"tools": tool})
        if image and web_mode:
            raise UserError("--image is for the terminal chat; the web page uploads images")
        images = _images(image or [])         # before any model is served
        settings = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        try:
            raise typer.Exit(_session(spec, model_name, api_key_env, system, settings,
                                      query, json_mode, web_mode, compare,
                                      compare_model_name, tool, host, port, set_, device,
                                      images))
        except Ended:
            raise typer.Exit(143) from None


def _session(spec: str, model_name: str | None, api_key_env: str | None,
             system: str | None, settings: dict[str, Any], query: list[str] | None,
             json_mode: bool, web_mode: bool, compare: str | None,
             compare_model_name: str | None, tools: list[str] | None, host: str, port: str,
             overrides: list[str] | None, device: str | None, images: list[str]) -> int:
    from internpipe.chat import targets, terminal
    from internpipe.errors import StageFailed
    from internpipe.workers.chat_stream import ChatFailed

    progress = targets.reporter()
    with contextlib.ExitStack() as stack:
        try:
            first = stack.enter_context(targets.opened(
                spec, model_name, api_key_env, overrides, device, "chat", progress))
            found = [first]
            if compare:
                found.append(stack.enter_context(targets.opened(
                    compare, compare_model_name, api_key_env, overrides, device,
                    "chat-compare", progress)))
        finally:
            progress.close()
        persona = system if system is not None else first.system
        if web_mode:
            return _web(found, persona, settings, tools, host, port, device)
        conv = terminal.Conversation(first.endpoint, persona, settings, images=images)
        try:
            if query:
                return terminal.ask_all(conv, query, json_mode)
            if not sys.stdin.isatty():
                return terminal.ask_all(conv, [ln for ln in sys.stdin.read().splitlines()
                                               if ln.strip()], json_mode)
            return terminal.repl(conv, first.label)
        except ChatFailed as exc:
            failed = StageFailed("chat", str(exc))
            failed.args = (f"no answer: {exc}",)      # not a stage of a recipe
            raise failed from None
