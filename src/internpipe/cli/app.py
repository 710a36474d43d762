"""The `internpipe` command. Sub-commands live one per module, named in `COMMANDS`; a
command line that names one imports and registers only that one (the rest are for the
top-level help and for a misspelt name's suggestion), and heavy imports (pydantic, YAML,
rich tables) happen inside the commands, so that `--help` and `validate` stay fast."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from internpipe import __version__
from internpipe.cli import helptext

# name → (module, attribute); an attribute named `app` is a group of subcommands.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "command"),
    "plan": ("plan", "command"),
    "validate": ("validate", "command"),
    "status": ("status", "command"),
    "schema": ("schema", "command"),
    "init": ("init", "command"),
    "recipes": ("recipes", "app"),
    "env": ("env", "app"),
    "download": ("download", "command"),
    "finetune": ("finetune", "command"),
    "evaluate": ("evaluate", "command"),
    "quantize": ("quantize", "command"),
    "deploy": ("deploy", "app"),
    "agent": ("agent", "app"),
    "chat": ("chat", "command"),
    "report": ("report", "command"),
    "bench": ("bench", "command"),
    "gates": ("gates", "command"),
}

app = typer.Typer(
    name="internpipe",
    help="Carry an InternLM model through the InternLM toolchain with one recipe:\n\n"
         "download → finetune → evaluate → quantize → deploy → agent\n\n"
         "Each stage hands its work to the official tool (ModelScope / OpenXLab / Hugging "
         "Face clients, XTuner, OpenCompass, LMDeploy, Lagent + AgentLego), each in its own "
         "pinned environment.",
    epilog="Examples:\n\n"
           "  internpipe validate recipes/demo-cpu.yaml\n\n"
           "  internpipe plan recipes/demo-cpu.yaml\n\n"
           "  internpipe run recipes/demo-cpu.yaml --set stages.finetune.epochs=3\n\n"
           "  internpipe report recipes/demo-cpu.yaml\n\n"
           "  internpipe env setup xtuner\n\n"
           "Exit codes: 0 ok, 1 a stage failed, 2 bad recipe or usage, 130 interrupted.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"internpipe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    pass


def register(names: list[str]) -> None:
    for name in names:
        module_name, attr = COMMANDS[name]
        target = getattr(importlib.import_module(f"internpipe.cli.{module_name}"), attr)
        if attr == "app":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


def command_named(argv: list[str]) -> str | None:
    """The subcommand a command line names (its first word not starting with '-')."""
    return next((a for a in argv if not a.startswith("-")), None)


def main() -> None:
    # typer ≥ 0.29 carries its own copy of click (helptext.py relies on its classes too)
    from typer._click.exceptions import ClickException, UsageError
    from typer.main import get_command

    argv = sys.argv[1:]
    named = command_named(argv)
    register([named] if named in COMMANDS else list(COMMANDS))
    command = get_command(app)
    helptext.tidy(command)
    try:
        code = command.main(args=argv, prog_name="internpipe", standalone_mode=False)
    except UsageError as exc:
        message = helptext.did_you_mean(exc.format_message())
        exc.format_message = lambda: message            # type: ignore[method-assign]
        if "--json" in argv:        # a script reading stdout learns why too
            from internpipe import events

            events.write({"event": "error", "message": message, "details": [],
                          "exit_code": exc.exit_code, "usage": True})
        exc.show()
        sys.exit(exc.exit_code)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
